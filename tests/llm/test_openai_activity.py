"""The OpenAI-compatible provider (httpx) inside the real activity, run by a worker, against a local
chat-completions server: streaming, tool calls, usage and cost, errors and retries."""

from __future__ import annotations

import json
from pathlib import Path

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
from common.settings import Settings
from tests.fakes.openai_server import OpenAIServer
from tests.fakes.scripted_server import Fail, Reply, Stall, StreamError, Truncate
from tests.llm.call_workflow import LLMCallInput
from tests.llm.error_cases import Case, assert_fail_on_first_attempt, assert_retried_by_temporal
from tests.llm.harness import application_failure, run_call, simple_request, timeout_failure

CALCULATOR = ToolSpec(
    name="calculator",
    description="Evaluates arithmetic",
    input_schema={"type": "object", "properties": {"expression": {"type": "string"}}},
)


@pytest.fixture
def priced_settings(openai_settings: Settings, tmp_path: Path) -> Settings:
    """LLM_PRICING_FILE adds a price for the local model."""
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"llama3.1": {"input": 0.5, "output": 1.5, "cache_write": 0.0, "cache_read": 0.05}})
    )
    return openai_settings.model_copy(update={"llm_pricing_file": prices})


async def test_streamed_text_and_tool_calls_with_usage_and_cost(
    ts_client: Client, priced_settings: Settings, openai_server: OpenAIServer
) -> None:
    usage = Usage(input_tokens=900, output_tokens=120, cache_read_tokens=300)
    first_input = {"expression": "(17 * 23) + 4", "meta": {"precision": 2}}
    openai_server.script(
        Reply(
            content=[
                TextBlock(text="I will calculate this for you with two tool calls."),
                ToolUseBlock(id="call_a", name="calculator", input=first_input),
                ToolUseBlock(id="call_b", name="calculator", input={"expression": "1 + 1"}),
            ],
            stop_reason="tool_use",
            usage=usage,
        )
    )
    request = simple_request(
        "Compute", step="agent 1", step_kind="agent", tools=[CALCULATOR], temperature=0.3
    )

    outcome = await run_call(ts_client, priced_settings, LLMCallInput(request=request))

    response = outcome.response
    assert response is not None
    assert response.content == [
        TextBlock(text="I will calculate this for you with two tool calls."),
        ToolUseBlock(id="call_a", name="calculator", input=first_input),
        ToolUseBlock(id="call_b", name="calculator", input={"expression": "1 + 1"}),
    ]
    assert (response.stop_reason, response.model, response.provider) == ("tool_use", "llama3.1", "openai")
    # Cached prompt tokens are counted apart from input, as Anthropic does, and priced as cache reads.
    assert response.usage == usage
    assert response.cost_usd == pytest.approx((900 * 0.5 + 120 * 1.5 + 300 * 0.05) / 1_000_000)

    [sent] = openai_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}
    assert (sent.body["model"], sent.body["temperature"], sent.body["max_tokens"]) == ("llama3.1", 0.3, 1024)
    assert sent.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "calculator",
                "description": "Evaluates arithmetic",
                "parameters": CALCULATOR.input_schema,
            },
        }
    ]
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.step == f"{outcome.workflow_id}/agent 1"
    assert sent.step_kind == "agent"


async def test_conversation_maps_tool_calls_and_results_to_chat_messages(
    ts_client: Client, openai_settings: Settings, openai_server: OpenAIServer
) -> None:
    request = LLMRequest(
        system="Be brief.",
        messages=[
            Message.user_text("What is 2 + 2?"),
            Message(
                role="assistant",
                content=[
                    TextBlock(text="Let me check."),
                    ToolUseBlock(id="c1", name="calculator", input={"e": "2+2"}),
                ],
            ),
            Message(
                role="user",
                content=[ToolResultBlock(tool_use_id="c1", content="bad input", is_error=True)],
            ),
        ],
        tools=[CALCULATOR],
        step="agent 2",
        step_kind="agent",
    )

    outcome = await run_call(ts_client, openai_settings, LLMCallInput(request=request))

    assert outcome.response is not None and "[offline model]" in outcome.response.text()
    assert openai_server.requests[0].body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 2?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"e": "2+2"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ERROR: bad input"},
    ]


async def test_a_server_that_ignores_stream_answers_with_one_json_body(
    ts_client: Client, openai_settings: Settings, openai_server: OpenAIServer
) -> None:
    openai_server.script(
        Reply(
            content=[ToolUseBlock(id="call_1", name="calculator", input={"expression": "6 * 7"})],
            stop_reason="tool_use",
            usage=Usage(input_tokens=10, output_tokens=5),
            as_json=True,
        )
    )

    outcome = await run_call(
        ts_client, openai_settings, LLMCallInput(request=simple_request(tools=[CALCULATOR]))
    )

    assert outcome.response is not None
    assert outcome.response.tool_calls() == [
        ToolUseBlock(id="call_1", name="calculator", input={"expression": "6 * 7"})
    ]
    assert outcome.response.usage == Usage(input_tokens=10, output_tokens=5)


NON_RETRYABLE: list[Case] = [
    (Fail(400, "invalid_request_error", "bad"), error_types.BAD_REQUEST),
    (Fail(401, "invalid_request_error", "Incorrect API key"), error_types.AUTHENTICATION),
    (Fail(403, "permission_error", "no"), error_types.PERMISSION_DENIED),
    (Fail(404, "not_found_error", "model 'llama9' not found"), error_types.NOT_FOUND),
    (Fail(413, "invalid_request_error", "too large"), error_types.REQUEST_TOO_LARGE),
    (Fail(422, "invalid_request_error", "unprocessable"), error_types.UNPROCESSABLE),
    (Fail(429, "insufficient_quota", "quota", error_code="insufficient_quota"), error_types.SPEND_LIMIT),
    (
        Fail(400, "invalid_request_error", "too long", error_code="context_length_exceeded"),
        error_types.PROMPT_TOO_LONG,
    ),
    (Fail(502, "server_error", headers={"x-should-retry": "false"}), error_types.SERVER_ERROR),
]


async def test_non_retryable_errors_fail_on_the_first_attempt(
    ts_client: Client, openai_settings: Settings, openai_server: OpenAIServer
) -> None:
    await assert_fail_on_first_attempt(ts_client, openai_settings, openai_server, NON_RETRYABLE)


RETRYABLE: list[Case] = [
    (Fail(408, "timeout"), error_types.TIMEOUT),
    (Fail(409, "conflict"), error_types.CONFLICT),
    (Fail(429, "rate_limit_exceeded", "slow down"), error_types.RATE_LIMITED),
    (Fail(500, "server_error"), error_types.SERVER_ERROR),
    (Fail(503, "server_error"), error_types.SERVER_ERROR),
    (StreamError("server_error", "model crashed", after_events=2), error_types.SERVER_ERROR),
    (Fail(400, "invalid_request_error", headers={"x-should-retry": "true"}), error_types.RETRY_REQUESTED),
]


async def test_retryable_errors_are_retried_by_temporal(
    ts_client: Client, openai_settings: Settings, openai_server: OpenAIServer
) -> None:
    await assert_retried_by_temporal(ts_client, openai_settings, openai_server, RETRYABLE)


async def test_retry_after_sets_the_delay_before_the_next_attempt(
    ts_client: Client, openai_settings: Settings, openai_server: OpenAIServer
) -> None:
    openai_server.script(Fail(429, "rate_limit_exceeded", headers={"retry-after-ms": "2500"}))

    outcome = await run_call(ts_client, openai_settings, LLMCallInput(request=simple_request()))

    assert outcome.response is not None and outcome.attempts == 2
    history = await ts_client.get_workflow_handle(outcome.workflow_id).fetch_history()
    scheduled = next(e for e in history.events if e.HasField("activity_task_scheduled_event_attributes"))
    started = next(e for e in history.events if e.HasField("activity_task_started_event_attributes"))
    assert (started.event_time.ToDatetime() - scheduled.event_time.ToDatetime()).total_seconds() >= 2.5


async def test_heartbeat_timeout_fires_when_the_stream_stalls(
    ts_client: Client, openai_settings: Settings, openai_server: OpenAIServer
) -> None:
    openai_server.script(Stall(after_events=2))
    try:
        outcome = await run_call(
            ts_client,
            openai_settings.model_copy(update={"llm_stall_timeout_s": 0.5}),
            LLMCallInput(request=simple_request(), heartbeat_timeout_s=1, maximum_attempts=1),
        )
    finally:
        openai_server.release()

    assert timeout_failure(outcome).type == TimeoutType.HEARTBEAT
    assert len(openai_server.requests) == 1


async def test_a_stream_cut_short_is_a_retryable_invalid_response(
    ts_client: Client, openai_settings: Settings, openai_server: OpenAIServer
) -> None:
    """A stream that ends without finish_reason or [DONE] (the server died mid-answer) is no reply."""
    openai_server.script(Truncate(after_events=2))

    outcome = await run_call(
        ts_client, openai_settings, LLMCallInput(request=simple_request(), maximum_attempts=1)
    )

    error = application_failure(outcome)
    assert (error.type, error.non_retryable) == (error_types.INVALID_RESPONSE, False)


async def test_connection_refused_is_a_retryable_connection_error(
    ts_client: Client, openai_settings: Settings, unused_port_url: str
) -> None:
    settings = openai_settings.model_copy(update={"openai_base_url": unused_port_url + "/v1"})
    outcome = await run_call(ts_client, settings, LLMCallInput(request=simple_request(), maximum_attempts=1))

    error = application_failure(outcome)
    assert (error.type, error.non_retryable) == (error_types.CONNECTION_ERROR, False)
