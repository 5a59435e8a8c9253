"""Email delivery against a real aiosmtpd server: derived Message-ID, the dedupe ledger (which
survives a new worker), SMTP reply classification, AUTH and STARTTLS."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery.activity import DeliveryActivities
from activities.delivery.email import SmtpConfig, message_id_for
from activities.delivery.models import DeliveryRequest
from common.settings import Settings
from tests.delivery.self_signed import make_certificate, server_context
from tests.fakes.receivers import SmtpServer


def _request(key: str = "wf-7/deliver", to: str = "reports@example.com") -> DeliveryRequest:
    return DeliveryRequest(
        target=f"mailto:{to}",
        idempotency_key=key,
        subject="Weekly research:\n tide pools",  # a newline must not split the header
        body="# Tide pools\n\nStill wet.\n",
    )


def test_message_id_is_stable_per_key_and_distinct_between_keys() -> None:
    first = message_id_for("wf-7/deliver")
    assert first == message_id_for("wf-7/deliver") != message_id_for("wf-7/deliver-2")
    assert (
        first.startswith("<")
        and first.endswith("@ai-workflows>")
        and len(first) == 32 + len("<@ai-workflows>")
    )


async def test_email_arrives_with_the_derived_message_id(
    deliveries: DeliveryActivities, smtp_server: SmtpServer, delivery_settings: Settings
) -> None:
    receipt = await ActivityEnvironment().run(deliveries.deliver, _request())
    assert receipt.channel == "email" and not receipt.duplicate
    assert receipt.detail == message_id_for("wf-7/deliver")
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ("reports@example.com",)
    assert mail.mail_from == delivery_settings.smtp_from
    assert mail.message_id == message_id_for("wf-7/deliver")
    assert mail.message["X-Idempotency-Key"] == "wf-7/deliver"
    assert mail.subject == "Weekly research: tide pools"
    assert mail.text() == "# Tide pools\n\nStill wet.\n"


async def test_second_delivery_with_the_same_key_is_skipped_by_the_ledger(
    deliveries: DeliveryActivities, smtp_server: SmtpServer
) -> None:
    env = ActivityEnvironment()
    first = await env.run(deliveries.deliver, _request())
    again = await env.run(deliveries.deliver, _request())
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.detail == first.detail
    assert len(smtp_server.messages) == 1


async def test_ledger_survives_a_new_worker(delivery_settings: Settings, smtp_server: SmtpServer) -> None:
    """A replacement worker process (a new DeliveryActivities on the same SQLite file) still knows."""
    env = ActivityEnvironment()
    first_worker = DeliveryActivities.from_settings(delivery_settings)
    await env.run(first_worker.deliver, _request())
    await first_worker.aclose()
    replacement = DeliveryActivities.from_settings(delivery_settings)
    try:
        receipt = await env.run(replacement.deliver, _request())
    finally:
        await replacement.aclose()
    assert receipt.duplicate
    assert len(smtp_server.messages) == 1
    assert delivery_settings.dedupe_ledger_path.exists()


async def test_temporary_smtp_failure_is_retried_and_then_sent_once(
    deliveries: DeliveryActivities, smtp_server: SmtpServer
) -> None:
    smtp_server.script_data_replies("451 4.3.0 mailbox busy, try later")
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as caught:
        await env.run(deliveries.deliver, _request())
    assert caught.value.type == "DeliveryUnavailable" and "451" in caught.value.message
    receipt = await env.run(deliveries.deliver, _request())
    assert not receipt.duplicate
    assert len(smtp_server.messages) == 1
    entry = await deliveries.email.ledger.lookup("wf-7/deliver")
    assert entry is not None and (entry.status, entry.attempts) == ("sent", 2)


async def test_permanent_refusals_are_not_retried(
    deliveries: DeliveryActivities, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse_recipient("nobody@example.com")
    smtp_server.script_data_replies("554 5.7.1 message refused")
    env = ActivityEnvironment()
    for request in (_request("wf/a", to="nobody@example.com"), _request("wf/b")):
        with pytest.raises(ApplicationError) as caught:
            await env.run(deliveries.deliver, request)
        assert caught.value.type == "DeliveryRejected" and caught.value.non_retryable
    assert smtp_server.messages == []


async def test_unreachable_smtp_server_is_retried(delivery_settings: Settings) -> None:
    closed = SmtpServer().start()
    closed.stop()
    activities = DeliveryActivities.from_settings(
        delivery_settings.model_copy(update={"smtp_port": closed.port})
    )
    try:
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(activities.deliver, _request())
    finally:
        await activities.aclose()
    assert caught.value.type == "DeliveryUnavailable" and "ConnectionRefusedError" in caught.value.message


async def test_the_crash_window_resends_with_the_same_message_id(
    deliveries: DeliveryActivities, smtp_server: SmtpServer, delivery_settings: Settings
) -> None:
    """The documented at-least-once window: the server accepted the mail, the worker died before the
    ledger said "sent" (simulated by putting the row back to "pending"). The retry sends again,
    and both copies carry one Message-ID, which mail clients collapse."""
    env = ActivityEnvironment()
    await env.run(deliveries.deliver, _request())
    with sqlite3.connect(delivery_settings.dedupe_ledger_path) as db:
        db.execute("UPDATE delivery_ledger SET status = 'pending' WHERE idempotency_key = 'wf-7/deliver'")
    receipt = await env.run(deliveries.deliver, _request())
    assert not receipt.duplicate
    assert len(smtp_server.with_message_id(message_id_for("wf-7/deliver"))) == 2
    third = await env.run(deliveries.deliver, _request())
    assert third.duplicate and len(smtp_server.messages) == 2


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # plaintext on loopback
async def test_login_with_smtp_credentials(delivery_settings: Settings) -> None:
    server = SmtpServer(credentials=("mailer", "s3cret")).start()
    try:
        base = delivery_settings.model_copy(update={"smtp_port": server.port, "smtp_username": "mailer"})
        good = DeliveryActivities.from_settings(base.model_copy(update={"smtp_password": _secret("s3cret")}))
        bad = DeliveryActivities.from_settings(base.model_copy(update={"smtp_password": _secret("wrong")}))
        env = ActivityEnvironment()
        try:
            await env.run(good.deliver, _request("wf/with-login"))
            with pytest.raises(ApplicationError) as caught:
                await env.run(bad.deliver, _request("wf/bad-login"))
        finally:
            await good.aclose()
            await bad.aclose()
        assert caught.value.type == "DeliveryRejected" and "535" in caught.value.message
        assert server.logins == ["mailer"] and len(server.messages) == 1
    finally:
        server.stop()


async def test_starttls_verifies_the_server_certificate_then_logs_in(
    delivery_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = make_certificate(tmp_path)
    server = SmtpServer(credentials=("mailer", "s3cret"), tls_context=server_context(cert, key)).start()
    settings = delivery_settings.model_copy(
        update={
            "smtp_port": server.port,
            "smtp_starttls": True,
            "smtp_username": "mailer",
            "smtp_password": _secret("s3cret"),
        }
    )
    env = ActivityEnvironment()
    try:
        untrusted = DeliveryActivities.from_settings(settings)
        try:
            with pytest.raises(ApplicationError) as caught:
                await env.run(untrusted.deliver, _request("wf/untrusted"))
        finally:
            await untrusted.aclose()
        assert caught.value.type == "DeliveryRejected" and "not trusted" in caught.value.message
        # Trusting the certificate the standard way (SSL_CERT_FILE, read by OpenSSL) makes it work.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted = DeliveryActivities.from_settings(settings)
        try:
            receipt = await env.run(trusted.deliver, _request("wf/trusted"))
        finally:
            await trusted.aclose()
        assert not receipt.duplicate
        assert [mail.message["X-Idempotency-Key"] for mail in server.messages] == ["wf/trusted"]
        assert server.logins == ["mailer"]  # the password went over the encrypted channel only
    finally:
        server.stop()


def _secret(value: str) -> SecretStr:
    return SecretStr(value)


def test_smtp_config_repr_shows_no_password(delivery_settings: Settings) -> None:
    settings = delivery_settings.model_copy(
        update={"smtp_username": "mailer", "smtp_password": _secret("hunter2-s3cret")}
    )
    config = SmtpConfig.from_settings(settings)
    assert config.password == "hunter2-s3cret"  # still there for the login
    for text in (repr(config), str(config), repr(settings), str(settings)):
        assert "hunter2-s3cret" not in text
    assert "mailer" in repr(config)
