"""`DeliveryActivities`: the delivery activity `delivery.deliver`, built once per worker around one
HTTP pool and one ledger; the side-effect tools `send_webhook` / `send_email` use its senders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from temporalio import activity

from activities.delivery.email import EmailSender, SmtpConfig
from activities.delivery.failures import check_idempotency_key, invalid_request
from activities.delivery.file import write_report
from activities.delivery.ledger import open_ledger
from activities.delivery.targets import Target, parse_target
from activities.delivery.webhook import WebhookSender
from common.contracts.delivery import DeliveryReceipt, DeliveryRequest
from common.egress import egress_client, parse_allow_private
from common.redact import redact_url
from common.settings import Settings

__all__ = ["DeliveryActivities"]

DEFAULT_FILE_ROOT = Path(".state/deliveries")


def report_payload(request: DeliveryRequest) -> dict[str, Any]:
    """The JSON body a webhook receives for a report delivery (the key is in the header too, but a
    receiver that stores bodies wants it in the body)."""
    return {
        "idempotency_key": request.idempotency_key,
        "subject": request.subject,
        "text": request.body,
        "data": request.data,
    }


class DeliveryActivities:
    def __init__(
        self,
        webhook: WebhookSender,
        email: EmailSender,
        http_client: httpx.AsyncClient | None = None,
        file_root: Path = DEFAULT_FILE_ROOT,
    ):
        self.webhook = webhook
        self.email = email
        self._http_client = http_client
        self.file_root = file_root

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryActivities:
        # Redirects are not followed (a redirected POST is a question for the operator, not a retry),
        # and a private destination is refused at connect time unless EGRESS_ALLOW_PRIVATE allows it.
        client = egress_client(
            parse_allow_private(settings.egress_allow_private),
            timeout=httpx.Timeout(settings.delivery_timeout_s),
        )
        dsn = settings.dedupe_ledger_dsn.get_secret_value() if settings.dedupe_ledger_dsn else None
        ledger = open_ledger(settings.dedupe_ledger_path, dsn)
        return cls(
            WebhookSender(client, settings.delivery_timeout_s),
            EmailSender(SmtpConfig.from_settings(settings), ledger),
            client,
            settings.delivery_file_root,
        )

    async def aclose(self) -> None:
        if self._http_client is not None:
            await self._http_client.aclose()
        await self.email.ledger.close()

    @activity.defn(name="delivery.deliver")
    async def deliver(self, request: DeliveryRequest) -> DeliveryReceipt:
        key = check_idempotency_key(request.idempotency_key)
        try:
            target = parse_target(request.target)
        except ValueError as error:
            raise invalid_request(str(error)) from None
        detail, duplicate = await self._deliver_to(target, request, key)
        activity.logger.info(
            "delivery %s via %s: %s%s",
            key,
            target.channel,
            detail,
            " (duplicate, not sent again)" if duplicate else "",
        )
        return DeliveryReceipt(
            target=redact_url(request.target) if target.channel == "webhook" else request.target,
            idempotency_key=key,
            channel=target.channel,
            detail=detail,
            duplicate=duplicate,
        )

    async def _deliver_to(self, target: Target, request: DeliveryRequest, key: str) -> tuple[str, bool]:
        if target.channel == "webhook":
            posted = await self.webhook.post(target.location, report_payload(request), key)
            return f"HTTP {posted.status}", posted.duplicate
        if target.channel == "email":
            sent = await self.email.send(target.location, request.subject, request.body, key)
            return sent.message_id, sent.duplicate
        written = await write_report(target.location, key, request.body, root=self.file_root)
        return str(written.path), written.duplicate
