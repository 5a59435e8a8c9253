"""`tool.send_webhook` / `tool.send_email` called directly: strict argument checks (typed,
non-retryable), a receiver's refusal as an observation the model reads, a repeat as "already sent"."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery.activity import DeliveryActivities
from activities.tools.models import SideEffectToolInput
from tests.delivery.conftest import tools_of
from tests.fakes.receivers import HttpReceiver, SmtpServer

EMAIL = {"to": "ops@example.com", "subject": "Disk almost full", "body": "Volume /data is at 91%."}


@pytest.mark.parametrize(
    ("tool", "arguments", "message_part"),
    [
        ("send_webhook", {"payload": {}}, "url: Field required"),
        ("send_webhook", {"url": "https://example.com", "payload": []}, "payload"),
        ("send_webhook", {"url": "ftp://example.com", "payload": {}}, "not an http"),
        ("send_webhook", {"url": "https://example.com", "payload": {}, "method": "PUT"}, "method"),
        ("send_email", {**EMAIL, "to": "ops@example.com, boss@example.com"}, "not a single email address"),
        ("send_email", {**EMAIL, "subject": "x" * 201}, "subject"),
        ("send_email", {"to": "ops@example.com"}, "subject: Field required"),
    ],
)
async def test_invalid_arguments_are_a_typed_non_retryable_error(
    deliveries: DeliveryActivities, tool: str, arguments: dict[str, object], message_part: str
) -> None:
    activity = (
        tools_of(deliveries).send_webhook if tool == "send_webhook" else tools_of(deliveries).send_email
    )
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            activity, SideEffectToolInput(arguments=arguments, idempotency_key="wf/t")
        )
    assert caught.value.type == "InvalidToolArguments" and caught.value.non_retryable
    assert caught.value.message.startswith(f"{tool}: ") and message_part in caught.value.message


async def test_an_empty_idempotency_key_is_refused(deliveries: DeliveryActivities) -> None:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            tools_of(deliveries).send_email, SideEffectToolInput(arguments=EMAIL, idempotency_key=" ")
        )
    assert caught.value.type == "InvalidDeliveryRequest" and caught.value.non_retryable


async def test_webhook_tool_posts_the_payload_once(
    deliveries: DeliveryActivities, http_receiver: HttpReceiver
) -> None:
    request = SideEffectToolInput(
        arguments={"url": f"{http_receiver.url}/alerts", "payload": {"level": "warn", "n": 3}},
        idempotency_key="agent-1/tool-4",
    )
    env = ActivityEnvironment()
    first = await env.run(tools_of(deliveries).send_webhook, request)
    again = await env.run(tools_of(deliveries).send_webhook, request)
    assert not first.is_error and first.content.startswith("Delivered")
    assert not again.is_error and again.content.startswith("Already delivered")
    assert http_receiver.accepted_keys() == {"agent-1/tool-4": 1}
    assert http_receiver.accepted[0].json() == {"level": "warn", "n": 3}


async def test_a_refusal_is_an_observation_the_model_can_read(
    deliveries: DeliveryActivities, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    http_receiver.script(400)
    smtp_server.refuse_recipient("ops@example.com")
    env = ActivityEnvironment()
    webhook = await env.run(
        tools_of(deliveries).send_webhook,
        SideEffectToolInput(
            arguments={"url": f"{http_receiver.url}/x", "payload": {}}, idempotency_key="a/1"
        ),
    )
    mail = await env.run(
        tools_of(deliveries).send_email, SideEffectToolInput(arguments=EMAIL, idempotency_key="a/2")
    )
    assert webhook.is_error and "HTTP 400" in webhook.content
    assert mail.is_error and "550" in mail.content
    assert http_receiver.accepted == [] and smtp_server.messages == []


async def test_email_tool_sends_once_per_key(deliveries: DeliveryActivities, smtp_server: SmtpServer) -> None:
    request = SideEffectToolInput(arguments=EMAIL, idempotency_key="agent-1/tool-5")
    env = ActivityEnvironment()
    first = await env.run(tools_of(deliveries).send_email, request)
    again = await env.run(tools_of(deliveries).send_email, request)
    assert not first.is_error and first.content.startswith("Sent the email to ops@example.com")
    assert again.content.startswith("Already sent earlier")
    [mail] = smtp_server.messages
    assert (mail.subject, mail.text().strip()) == ("Disk almost full", "Volume /data is at 91%.")


async def test_a_transient_failure_raises_for_temporal_to_retry(
    deliveries: DeliveryActivities, http_receiver: HttpReceiver
) -> None:
    http_receiver.script(503)
    request = SideEffectToolInput(
        arguments={"url": f"{http_receiver.url}/x", "payload": {}}, idempotency_key="a/3"
    )
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(tools_of(deliveries).send_webhook, request)
    assert caught.value.type == "DeliveryUnavailable" and not caught.value.non_retryable
