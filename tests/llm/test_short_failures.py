"""A failing model call reads well where an operator looks: `temporal workflow describe` (the pending
activity's last failure) and the history show one short line with the type, the status and the
request id, and no chained provider traceback (which made Temporal drop the failure as "Failure
exceeds size limit"). The worker log keeps the trace. A real worker and dev server, the real
`anthropic` SDK against the local Messages-API server."""

from __future__ import annotations

import asyncio
import logging

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.llm import error_types
from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Fail
from tests.llm.call_workflow import LLMCallInput
from tests.llm.harness import run_call, simple_request
from tests.llm.test_anthropic_activity import _running_call_id

# A provider message as servers write them: long, over several lines.
NOISY = "upstream connect error or disconnect/reset before headers.\n" + "reset reason: overflow " * 60
MAX_FAILURE_BYTES = 4096


async def _pending_failure(client: Client, workflow_id: str) -> Failure:
    """The pending activity's last failure, as `temporal workflow describe` shows it."""
    handle = client.get_workflow_handle(workflow_id)
    while True:
        description = await handle.describe()
        for pending in description.raw_description.pending_activities:
            if pending.HasField("last_failure"):
                return pending.last_failure
        await asyncio.sleep(0.05)  # polling the server's state, not a synchronisation by time


async def test_a_failed_attempt_is_one_short_line_in_describe(
    dev_client: Client,
    anthropic_settings: Settings,
    anthropic_server: AnthropicServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    anthropic_server.script(
        *(
            Fail(503, "api_error", NOISY, headers={"request-id": "req_0123", "retry-after": "1"})
            for _ in range(2)
        )
    )
    caplog.set_level(logging.WARNING, logger="activities.llm.errors")
    call = asyncio.create_task(
        run_call(dev_client, anthropic_settings, LLMCallInput(request=simple_request()))
    )
    try:
        workflow_id = await _running_call_id(dev_client, anthropic_settings.temporal_task_queue)
        failure = await _pending_failure(dev_client, workflow_id)
    finally:
        outcome = await call

    assert outcome.response is not None and outcome.attempts == 3
    assert failure.ByteSize() < MAX_FAILURE_BYTES, failure
    assert "\n" not in failure.message and failure.message.startswith("anthropic HTTP 503: upstream")
    assert not failure.HasField("cause")  # no chained provider exception
    assert failure.application_failure_info.type == error_types.SERVER_ERROR
    decoded = await dev_client.data_converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError)
    assert decoded.details[0] == {
        "provider": "anthropic",
        "status": 503,
        "retry_after_s": 1.0,
        "provider_error_type": "api_error",
        "request_id": "req_0123",
    }
    # The worker log has the whole story: the provider exception's traceback, once per attempt.
    logged = [r for r in caplog.records if r.name == "activities.llm.errors"]
    assert len(logged) == 2 and all(r.exc_info is not None for r in logged)
    assert all(r.levelno == logging.WARNING for r in logged)


async def test_the_failure_in_the_history_is_short_and_carries_the_spent_usage(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.script(Fail(400, "invalid_request_error", NOISY, headers={"request-id": "req_4567"}))

    outcome = await run_call(ts_client, anthropic_settings, LLMCallInput(request=simple_request()))

    history = await ts_client.get_workflow_handle(outcome.workflow_id).fetch_history()
    [failed] = [e for e in history.events if e.HasField("activity_task_failed_event_attributes")]
    failure = failed.activity_task_failed_event_attributes.failure
    print(f"\nfailure in history: {failure.ByteSize()} bytes, stack trace {len(failure.stack_trace)} chars")
    assert failure.ByteSize() < MAX_FAILURE_BYTES, failure
    assert "\n" not in failure.message and failure.message.startswith("anthropic HTTP 400: upstream")
    assert not failure.HasField("cause")
    info = failure.application_failure_info
    assert (info.type, info.non_retryable) == (error_types.BAD_REQUEST, True)
    decoded = await ts_client.data_converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError)
    assert decoded.details[0]["request_id"] == "req_4567"
    assert decoded.details[1]["spent_usage"]["attempts"] == 1
