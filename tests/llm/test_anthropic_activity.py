"""The Anthropic provider through the real SDK, inside the real activity, run by a worker, against a
local Messages API server: streaming, tool use, prompt caching, usage and cost, errors and retries."""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio.client import Client
from temporalio.exceptions import TimeoutType

from activities.llm import error_types
from activities.llm.models import (
    LLMRequest,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
)
from activities.llm.pricing import PriceTable
from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Fail, Reply, Stall, StreamError, Truncate
from tests.llm.call_workflow import LLMCallInput
from tests.llm.error_cases import Case, assert_fail_on_first_attempt, assert_retried_by_temporal
from tests.llm.harness import (
    application_failure,
    run_call,
    run_stalling_call,
    short_windows,
    simple_request,
    timeout_failure,
)

CALCULATOR = ToolSpec(
    name="calculator",
    description="Evaluates arithmetic",
    input_schema={"type": "object", "properties": {"expression": {"type": "string"}}},
)
CLOCK = ToolSpec(name="current_time", description="Tells the time", input_schema={"type": "object"})


async def test_streamed_text_and_tool_use_with_usage_and_cost(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    usage = Usage(input_tokens=1200, output_tokens=345, cache_write_tokens=2048, cache_read_tokens=4096)
    tool_input = {"expression": "(17 * 23) + 4", "options": {"precision": 2, "steps": [1, 2, 3]}}
    long_text = "Let me work this out with the calculator tool, step by step. " * 5
    anthropic_server.script(
        Reply(
            content=[
                TextBlock(text=long_text),
                ToolUseBlock(id="toolu_01", name="calculator", input=tool_input),
            ],
            stop_reason="tool_use",
            usage=usage,
            model="claude-haiku-4-5-20251001",
        )
    )
    request = simple_request("What is (17 * 23) + 4?", step="agent 1", step_kind="agent", tools=[CALCULATOR])

    outcome = await run_call(ts_client, anthropic_settings, LLMCallInput(request=request))

    response = outcome.response
    assert response is not None
    assert response.content == [
        TextBlock(text=long_text),
        ToolUseBlock(id="toolu_01", name="calculator", input=tool_input),
    ]
    assert response.stop_reason == "tool_use"
    assert response.model == "claude-haiku-4-5-20251001"
    assert response.provider == "anthropic"
    assert response.usage == usage
    # Priced by the answering model's prefix (a dated snapshot), cache tokens at their own rates.
    expected_cost = (1200 * 1.0 + 345 * 5.0 + 2048 * 1.25 + 4096 * 0.10) / 1_000_000
    assert response.cost_usd == pytest.approx(expected_cost)
    assert response.cost_usd == pytest.approx(PriceTable.load().cost("claude-haiku-4-5", usage))
    assert response.latency_ms > 0

    [sent] = anthropic_server.requests
    assert sent.streamed and sent.path == "/v1/messages"
    assert sent.body["model"] == "claude-sonnet-5-5"  # the provider's default model
    assert sent.step == f"{outcome.workflow_id}/agent 1"
    assert sent.step_kind == "agent"
    assert sent.headers["x-stainless-retry-count"] == "0"
    assert sent.headers["authorization"] == "Bearer test-key"  # how SDK 2.x sends the API key
    assert outcome.attempts == 1


async def test_prompt_caching_marks_the_stable_prefix(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    conversation = [
        Message.user_text("What time is it, and what is 2 + 2?"),
        Message(
            role="assistant",
            content=[
                TextBlock(text="Checking."),
                ToolUseBlock(id="t1", name="current_time", input={}),
                ToolUseBlock(id="t2", name="calculator", input={"expression": "2 + 2"}),
            ],
        ),
        Message(
            role="user",
            content=[
                ToolResultBlock(tool_use_id="t1", content="12:00"),
                ToolResultBlock(tool_use_id="t2", content="boom", is_error=True),
            ],
        ),
    ]
    request = LLMRequest(
        system="You are a careful agent.",
        messages=conversation,
        tools=[CLOCK, CALCULATOR],
        step="agent 2",
        step_kind="agent",
    )

    first = await run_call(ts_client, anthropic_settings, LLMCallInput(request=request))
    second = await run_call(ts_client, anthropic_settings, LLMCallInput(request=request))
    uncached = await run_call(
        ts_client,
        anthropic_settings,
        LLMCallInput(request=request.model_copy(update={"prompt_caching": False})),
    )

    body = anthropic_server.requests[0].body
    ephemeral = {"type": "ephemeral"}
    assert body["system"] == [
        {"type": "text", "text": "You are a careful agent.", "cache_control": ephemeral}
    ]
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][1]["cache_control"] == ephemeral
    blocks = [block for message in body["messages"] for block in message["content"]]
    assert [("cache_control" in block) for block in blocks] == [False, False, False, False, False, True]
    # Our blocks as Anthropic's: tool_use and tool_result (with is_error) keep their ids.
    assert body["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "t1",
        "name": "current_time",
        "input": {},
    }
    assert body["messages"][2]["content"][1] == {
        "type": "tool_result",
        "tool_use_id": "t2",
        "content": "boom",
        "is_error": True,
        "cache_control": ephemeral,
    }
    uncached_body = anthropic_server.requests[2].body
    assert "cache_control" not in str(uncached_body)

    # The server wrote the prefix to its cache the first time and read it back the second time,
    # and the cheaper read shows in the cost.
    assert first.response is not None and second.response is not None and uncached.response is not None
    assert first.response.usage.cache_write_tokens > 0
    assert second.response.usage.cache_read_tokens == first.response.usage.cache_write_tokens
    assert second.response.cost_usd < first.response.cost_usd
    assert uncached.response.usage.cache_read_tokens == 0


NON_RETRYABLE: list[Case] = [
    (Fail(400, "invalid_request_error", "messages: field required"), error_types.BAD_REQUEST),
    (Fail(401, "authentication_error", "invalid x-api-key"), error_types.AUTHENTICATION),
    (Fail(402, "billing_error", "payment required"), error_types.PAYMENT_REQUIRED),
    (Fail(403, "permission_error", "not allowed"), error_types.PERMISSION_DENIED),
    (Fail(404, "not_found_error", "model: claude-nope"), error_types.NOT_FOUND),
    (Fail(413, "request_too_large", "Request exceeds the maximum size"), error_types.REQUEST_TOO_LARGE),
    (Fail(422, "invalid_request_error", "unprocessable"), error_types.UNPROCESSABLE),
    (
        Fail(429, "rate_limit_error", "spend limit", error_code="enforced_spend_limit_reached"),
        error_types.SPEND_LIMIT,
    ),
    (
        Fail(400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"),
        error_types.PROMPT_TOO_LONG,
    ),
    # The server's word beats the status.
    (
        Fail(500, "api_error", "do not retry this", headers={"x-should-retry": "false"}),
        error_types.SERVER_ERROR,
    ),
]


async def test_non_retryable_errors_fail_on_the_first_attempt(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    await assert_fail_on_first_attempt(ts_client, anthropic_settings, anthropic_server, NON_RETRYABLE)


RETRYABLE: list[Case] = [
    (Fail(408, "timeout_error"), error_types.TIMEOUT),
    (Fail(409, "conflict_error"), error_types.CONFLICT),
    (Fail(429, "rate_limit_error"), error_types.RATE_LIMITED),
    (Fail(500, "api_error"), error_types.SERVER_ERROR),
    (Fail(503, "api_error"), error_types.SERVER_ERROR),
    (Fail(529, "overloaded_error"), error_types.OVERLOADED),
    (StreamError("overloaded_error", after_events=3), error_types.OVERLOADED),
    (Fail(400, "invalid_request_error", headers={"x-should-retry": "true"}), error_types.RETRY_REQUESTED),
]


async def test_retryable_errors_are_retried_by_temporal(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    await assert_retried_by_temporal(ts_client, anthropic_settings, anthropic_server, RETRYABLE)


async def test_retry_after_sets_the_delay_before_the_next_attempt(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    """Time-skipping: the server's clock (history event times) shows the wait, without waiting."""
    anthropic_server.script(Fail(429, "rate_limit_error", headers={"retry-after": "2"}))

    outcome = await run_call(ts_client, anthropic_settings, LLMCallInput(request=simple_request()))

    assert outcome.response is not None and outcome.attempts == 2
    history = await ts_client.get_workflow_handle(outcome.workflow_id).fetch_history()
    scheduled = next(e for e in history.events if e.HasField("activity_task_scheduled_event_attributes"))
    started = next(e for e in history.events if e.HasField("activity_task_started_event_attributes"))
    waited = started.event_time.ToDatetime() - scheduled.event_time.ToDatetime()
    # The policy alone would wait 0.3 s (initial_interval) before attempt 2.
    assert waited.total_seconds() >= 2.0


async def test_retry_after_measured_at_the_server(
    dev_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    """Real time on the dev server: the second request arrives at least 2 s after the first."""
    anthropic_server.script(Fail(429, "rate_limit_error", headers={"retry-after": "2"}))

    outcome = await run_call(dev_client, anthropic_settings, LLMCallInput(request=simple_request()))

    assert outcome.response is not None
    first, second = anthropic_server.requests
    assert second.received_at - first.received_at >= 2.0


async def test_heartbeat_timeout_fires_when_the_stream_stalls(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.script(Stall(after_events=3))
    started = time.monotonic()
    outcome = await run_stalling_call(ts_client, anthropic_settings, anthropic_server, maximum_attempts=1)

    failure = timeout_failure(outcome)
    assert failure.type == TimeoutType.HEARTBEAT
    # The worker stays alive and its liveness ticker keeps running: only the progress gate (stall
    # window 0.5 s) stops the heartbeats. Noticed within stall window + ~2 heartbeat timeouts, not
    # after start-to-close (5 min).
    assert time.monotonic() - started < 10
    assert len(anthropic_server.requests) == 1


async def test_no_first_event_within_the_first_byte_window_is_a_heartbeat_timeout(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.script(Stall(after_events=0))  # the response never starts streaming
    started = time.monotonic()
    outcome = await run_stalling_call(
        ts_client, anthropic_settings, anthropic_server, first_byte_s=0.5, maximum_attempts=1
    )

    assert timeout_failure(outcome).type == TimeoutType.HEARTBEAT
    assert time.monotonic() - started < 10


async def test_a_slow_first_token_outlives_a_short_heartbeat_timeout(
    dev_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    """Real time: the answer starts only after several heartbeat timeouts (a long prompt), within the
    first-byte window. The ticker heartbeats meanwhile, so the one attempt succeeds."""
    anthropic_server.script(Stall(after_events=0))
    settings = short_windows(anthropic_settings, first_byte_s=60.0)
    call = asyncio.create_task(
        run_call(dev_client, settings, LLMCallInput(request=simple_request(), heartbeat_timeout_s=0.5))
    )
    try:
        assert await asyncio.to_thread(anthropic_server.wait_until_stalled, 30.0)
        # Release once Temporal has seen heartbeats for longer than three heartbeat timeouts.
        workflow_id = await _running_call_id(dev_client, settings.temporal_task_queue)
        await _heartbeated_for(dev_client, workflow_id, seconds=1.5)
    finally:
        anthropic_server.release()
    outcome = await call

    assert outcome.response is not None and outcome.response.text()
    assert outcome.attempts == 1
    assert len(anthropic_server.requests) == 1


async def _running_call_id(client: Client, task_queue: str) -> str:
    query = f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
    while True:
        async for execution in client.list_workflows(query):
            return execution.id
        await asyncio.sleep(0.05)  # polling the visibility store, not a synchronisation by time


async def _heartbeated_for(client: Client, workflow_id: str, *, seconds: float) -> None:
    """Waits until the pending activity's last heartbeat is `seconds` after its start."""
    handle = client.get_workflow_handle(workflow_id)
    while True:
        description = await handle.describe()
        for pending in description.raw_description.pending_activities:
            if pending.HasField("last_heartbeat_time") and pending.HasField("last_started_time"):
                beat = pending.last_heartbeat_time.ToDatetime() - pending.last_started_time.ToDatetime()
                if beat.total_seconds() >= seconds:
                    return
        await asyncio.sleep(0.1)


async def test_a_stalled_stream_is_retried_after_the_heartbeat_timeout(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.script(Stall(after_events=2))
    outcome = await run_stalling_call(ts_client, anthropic_settings, anthropic_server)

    assert outcome.response is not None and outcome.response.text()
    assert outcome.attempts == 2
    assert len(anthropic_server.requests) == 2


async def test_connection_refused_is_a_retryable_connection_error(
    ts_client: Client, anthropic_settings: Settings, unused_port_url: str
) -> None:
    settings = anthropic_settings.model_copy(update={"anthropic_base_url": unused_port_url})
    outcome = await run_call(ts_client, settings, LLMCallInput(request=simple_request(), maximum_attempts=1))

    error = application_failure(outcome)
    assert (error.type, error.non_retryable) == (error_types.CONNECTION_ERROR, False)


async def test_a_stream_cut_short_is_a_retryable_invalid_response(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    """A stream that ends before message_delta (the server died mid-answer) is no reply."""
    anthropic_server.script(Truncate(after_events=4))

    outcome = await run_call(
        ts_client, anthropic_settings, LLMCallInput(request=simple_request(), maximum_attempts=1)
    )

    error = application_failure(outcome)
    assert (error.type, error.non_retryable) == (error_types.INVALID_RESPONSE, False)
