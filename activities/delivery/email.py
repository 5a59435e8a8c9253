"""Email delivery over SMTP, guarded by the dedupe ledger because SMTP itself cannot deduplicate.

The `Message-ID` is derived from the idempotency key, so even the one resend the ledger cannot
prevent (a crash after the server accepted the message, before the ledger said "sent") carries the
same Message-ID, which mail stores and clients use to collapse duplicates.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

from activities.delivery.failures import rejected, unavailable
from activities.delivery.ledger import DedupeLedger
from common.settings import Settings

__all__ = ["EmailSender", "SmtpConfig", "message_id_for"]

MESSAGE_ID_DOMAIN = "ai-workflows"
IDEMPOTENCY_HEADER = "X-Idempotency-Key"


def message_id_for(idempotency_key: str) -> str:
    """Deterministic per key; a hash keeps workflow ids (and anything odd in them) out of the header."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{MESSAGE_ID_DOMAIN}>"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)  # never in a repr, a log line or a traceback
    starttls: bool
    sender: str
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            sender=settings.smtp_from,
            timeout_s=settings.delivery_timeout_s,
        )


@dataclass(frozen=True)
class EmailOutcome:
    message_id: str
    duplicate: bool
    attempt: int  # the ledger's count: more than 1 means an earlier attempt did not confirm


def build_message(sender: str, to: str, subject: str, body: str, idempotency_key: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    # A subject is one header line: folding any newline a model or a report title carried.
    message["Subject"] = " ".join(subject.split()) or "(no subject)"
    message["Message-ID"] = message_id_for(idempotency_key)
    message[IDEMPOTENCY_HEADER] = idempotency_key
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message.set_content(body)
    return message


class EmailSender:
    """Claims the key in the ledger, sends over SMTP (blocking smtplib in a thread), marks it sent."""

    def __init__(self, config: SmtpConfig, ledger: DedupeLedger):
        self._config = config
        self.ledger = ledger

    async def send(self, to: str, subject: str, body: str, idempotency_key: str) -> EmailOutcome:
        message_id = message_id_for(idempotency_key)
        claim = await self.ledger.claim(idempotency_key, channel="email", target=to)
        if claim.already_sent:
            return EmailOutcome(claim.detail or message_id, duplicate=True, attempt=claim.attempt)
        message = build_message(self._config.sender, to, subject, body, idempotency_key)
        await asyncio.to_thread(self._send_blocking, message)
        # The window: if the process dies here, the server has the mail and the ledger says
        # "pending"; the retry sends again (same Message-ID). See docs/operations.md.
        await self.ledger.mark_sent(idempotency_key, message_id)
        return EmailOutcome(message_id, duplicate=False, attempt=claim.attempt)

    def _send_blocking(self, message: EmailMessage) -> None:
        config = self._config
        where = f"SMTP {config.host}:{config.port}"
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
                if config.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if config.username:
                    smtp.login(config.username, config.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            detail = "; ".join(
                f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in error.recipients.items()
            )
            if all(code >= 500 for code in codes):
                raise rejected(f"{where} refused the recipient: {detail}") from None
            raise unavailable(f"{where} deferred the recipient: {detail}") from None
        except smtplib.SMTPResponseException as error:  # sender refused, data refused, auth failed
            summary = f"{where} answered {error.smtp_code} {_text(error.smtp_error)}"
            if error.smtp_code >= 500:
                raise rejected(summary) from None
            raise unavailable(summary) from None
        except smtplib.SMTPNotSupportedError as error:  # e.g. SMTP_STARTTLS=true, server cannot
            raise rejected(f"{where}: {error}") from None
        except ssl.SSLCertVerificationError as error:
            raise rejected(f"{where}: TLS certificate not trusted: {error.verify_message}") from None
        except (smtplib.SMTPException, OSError) as error:  # refused, reset, timed out, disconnected
            raise unavailable(f"{where}: {type(error).__name__}: {error}") from None


def _text(value: bytes | str) -> str:
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    return " ".join(text.split())
