"""Delivery through a real worker on the time-skipping server: `build_worker` registers the delivery
activities, Temporal's retries (DELIVERY policy) meet the receivers' deduplication, and a second run
with the same workflow id (same keys, as after a reset) delivers nothing new."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ActivityError, ApplicationError

from activities.delivery.email import message_id_for
from common.settings import Settings
from tests.delivery.probe_workflow import (
    DeliveryProbeInput,
    DeliveryProbeResult,
    DeliveryProbeWorkflow,
    ProbeDelivery,
    ProbeToolCall,
)
from tests.fakes.receivers import HttpReceiver, SmtpServer
from worker.app import build_worker, registered_names


def _workflow_id() -> str:
    return f"delivery-probe-{uuid.uuid4().hex[:10]}"


async def _run(
    client: Client, settings: Settings, params: DeliveryProbeInput, workflow_id: str
) -> DeliveryProbeResult:
    async with build_worker(client, settings, workflows=[DeliveryProbeWorkflow]):
        return await client.execute_workflow(
            DeliveryProbeWorkflow.run, params, id=workflow_id, task_queue=settings.temporal_task_queue
        )


async def _attempts(handle: WorkflowHandle) -> list[int]:
    """The attempt number of every activity start in the run's history."""
    return [
        event.activity_task_started_event_attributes.attempt
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]


async def test_worker_registers_the_delivery_activities(
    ts_client: Client, delivery_settings: Settings
) -> None:
    _, names = registered_names(build_worker(ts_client, delivery_settings))
    assert {"delivery.deliver", "tool.send_webhook", "tool.send_email"} <= set(names)


async def test_every_channel_delivers_once_across_retries_and_a_rerun(
    ts_client: Client,
    delivery_settings: Settings,
    http_receiver: HttpReceiver,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    workflow_id = _workflow_id()
    http_receiver.script(500, key=f"{workflow_id}/webhook")  # the first POST fails, Temporal retries
    smtp_server.script_data_replies("451 4.3.0 try again later")  # so does the first SMTP DATA
    params = DeliveryProbeInput(
        deliveries=[
            ProbeDelivery(step="webhook", target=f"{http_receiver.url}/in", data={"n": 1}),
            ProbeDelivery(step="email", target="mailto:team@example.com"),
            ProbeDelivery(step="file", target=f"file:{tmp_path / 'out'}"),
        ]
    )
    first = await _run(ts_client, delivery_settings, params, workflow_id)
    assert [(r.channel, r.duplicate) for r in first.receipts] == [
        ("webhook", False),
        ("email", False),
        ("file", False),
    ]
    webhook_key, email_key = f"{workflow_id}/webhook", f"{workflow_id}/email"
    assert http_receiver.attempts(webhook_key) == 2 and http_receiver.accepted_count(webhook_key) == 1
    assert http_receiver.accepted[0].json()["data"] == {"n": 1}
    assert [mail.message_id for mail in smtp_server.messages] == [message_id_for(email_key)]
    assert (tmp_path / "out" / f"{workflow_id}__file.md").read_text() == "# Probe report\n\nbody\n"

    # The same workflow id again (as after a reset): same keys, so nothing is delivered twice.
    again = await _run(ts_client, delivery_settings, params, workflow_id)
    assert [r.duplicate for r in again.receipts] == [True, True, True]
    assert http_receiver.accepted_keys() == {webhook_key: 1}
    assert len(smtp_server.messages) == 1
    assert len(list((tmp_path / "out").iterdir())) == 1


async def test_a_rejected_delivery_fails_the_run_after_one_attempt(
    ts_client: Client, delivery_settings: Settings, http_receiver: HttpReceiver
) -> None:
    http_receiver.script(422)
    workflow_id = _workflow_id()
    params = DeliveryProbeInput(deliveries=[ProbeDelivery(step="deliver", target=f"{http_receiver.url}/in")])
    with pytest.raises(WorkflowFailureError) as caught:
        await _run(ts_client, delivery_settings, params, workflow_id)
    cause = caught.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "DeliveryRejected" and "HTTP 422" in cause.cause.message
    assert http_receiver.attempts(f"{workflow_id}/deliver") == 1
    assert await _attempts(ts_client.get_workflow_handle(workflow_id)) == [1]


async def test_an_invalid_target_fails_fast_with_a_typed_error(
    ts_client: Client, delivery_settings: Settings
) -> None:
    workflow_id = _workflow_id()
    params = DeliveryProbeInput(deliveries=[ProbeDelivery(step="deliver", target="slack:#general")])
    with pytest.raises(WorkflowFailureError) as caught:
        await _run(ts_client, delivery_settings, params, workflow_id)
    cause = caught.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "InvalidDeliveryRequest" and "not supported" in cause.cause.message
    assert await _attempts(ts_client.get_workflow_handle(workflow_id)) == [1]


async def test_side_effect_tools_through_the_worker(
    ts_client: Client, delivery_settings: Settings, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    workflow_id = _workflow_id()
    http_receiver.script(503)
    params = DeliveryProbeInput(
        tool_calls=[
            ProbeToolCall(
                step="tool-1",
                tool="send_webhook",
                arguments={"url": f"{http_receiver.url}/t", "payload": {"a": 1}},
            ),
            ProbeToolCall(
                step="tool-2",
                tool="send_email",
                arguments={"to": "x@example.com", "subject": "Hi", "body": "Hello"},
            ),
        ]
    )
    result = await _run(ts_client, delivery_settings, params, workflow_id)
    webhook, mail = result.observations
    assert not webhook.is_error and "HTTP 200" in webhook.content
    assert not mail.is_error and message_id_for(f"{workflow_id}/tool-2") in mail.content
    assert http_receiver.accepted[0].json() == {"a": 1}  # the approved payload, verbatim
    assert http_receiver.accepted_keys() == {f"{workflow_id}/tool-1": 1}
    assert [m.message["X-Idempotency-Key"] for m in smtp_server.messages] == [f"{workflow_id}/tool-2"]


async def test_invalid_tool_arguments_fail_without_retry(
    ts_client: Client, delivery_settings: Settings
) -> None:
    workflow_id = _workflow_id()
    params = DeliveryProbeInput(
        tool_calls=[ProbeToolCall(step="tool-1", tool="send_email", arguments={"to": "x@example.com"})]
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await _run(ts_client, delivery_settings, params, workflow_id)
    cause = caught.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "InvalidToolArguments" and "subject" in cause.cause.message
    assert await _attempts(ts_client.get_workflow_handle(workflow_id)) == [1]


async def test_a_refused_destination_fails_once_on_a_real_worker(
    dev_client: Client, delivery_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """On the dev server, with the default egress policy: a webhook to the cloud metadata address is
    refused at connect time, a typed non-retryable failure after one attempt, the workflow fails
    cleanly (no workflow-task failure loop), and the URL's token is in no failure or log line."""
    settings = delivery_settings.model_copy(update={"egress_allow_private": ""})
    workflow_id = _workflow_id()
    target = "http://169.254.169.254/latest/meta-data/hook?token=metadata-s3cret"
    params = DeliveryProbeInput(deliveries=[ProbeDelivery(step="deliver", target=target)])
    with pytest.raises(WorkflowFailureError) as caught:
        await _run(dev_client, settings, params, workflow_id)
    cause = caught.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "DestinationRefused" and cause.cause.non_retryable
    assert "link-local address" in cause.cause.message and "metadata-s3cret" not in cause.cause.message
    handle = dev_client.get_workflow_handle(workflow_id)
    assert await _attempts(handle) == [1]
    events = [event.event_type async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events
    assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    assert "metadata-s3cret" not in caplog.text
