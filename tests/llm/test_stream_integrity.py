"""A reply is assembled only from a whole stream: a missing, duplicated or out-of-order event is a
retryable `LLMInvalidResponse`, never a reply with a piece silently left out. Through the real
`anthropic` SDK (and the OpenAI-compatible provider) against the local servers, on a real worker."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client

from activities.llm import error_types
from activities.llm.models import ToolUseBlock
from common.settings import Settings
from tests.fakes.anthropic_server import BROKEN_STREAMS, AnthropicServer
from tests.fakes.openai_server import OpenAIServer
from tests.fakes.scripted_server import Malformed, Reply, SseEvent
from tests.llm.call_workflow import LLMCallInput
from tests.llm.harness import application_failure, run_calls, simple_request

TOOL_REPLY = Reply(
    content=[ToolUseBlock(id="call_1", name="calculator", input={"expression": "2 + 2"})],
    stop_reason="tool_use",
)


async def _assert_each_is_an_invalid_response(
    client: Client, settings: Settings, server: AnthropicServer | OpenAIServer, cases: dict[str, Malformed]
) -> None:
    calls = []
    for name, outcome in cases.items():
        server.script(outcome, step=name)
        calls.append(LLMCallInput(request=simple_request(step=name), maximum_attempts=1))

    results = await run_calls(client, settings, calls)

    for name, result in zip(cases, results, strict=True):
        assert result.response is None, f"{name}: accepted as {result.response}"
        error = application_failure(result)
        assert (error.type, error.non_retryable) == (error_types.INVALID_RESPONSE, False), name
        assert "malformed stream" in error.message or "ended before" in error.message, error.message
    assert server.pending == 0


async def test_a_broken_anthropic_stream_is_a_retryable_invalid_response(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    cases = {name: Malformed(edit) for name, edit in BROKEN_STREAMS.items()}
    await _assert_each_is_an_invalid_response(ts_client, anthropic_settings, anthropic_server, cases)


async def test_a_whole_anthropic_stream_is_still_accepted(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    """The same plumbing with an edit that changes nothing: the checks refuse only broken streams."""
    anthropic_server.script(Malformed(lambda events: events, reply=TOOL_REPLY))
    [result] = await run_calls(ts_client, anthropic_settings, [LLMCallInput(request=simple_request())])
    assert result.response is not None
    assert result.response.tool_calls() == TOOL_REPLY.content


def _drop_finish_reason(events: list[SseEvent]) -> list[SseEvent]:
    def clear(data: Any) -> Any:
        if isinstance(data, dict):
            return data | {"choices": [c | {"finish_reason": None} for c in data.get("choices", [])]}
        return data

    return [(name, clear(data)) for name, data in events]


def _arguments_for_an_unstarted_call(events: list[SseEvent]) -> list[SseEvent]:
    """A tool-call delta for index 3, which never got its id and name."""
    stray = {
        "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 3, "function": {"arguments": "{}"}}]}}]
    }
    return [*events[:-2], (None, stray), *events[-2:]]


def _tool_call_without_a_name(events: list[SseEvent]) -> list[SseEvent]:
    def strip(data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for choice in data.get("choices", []):
            for call in choice.get("delta", {}).get("tool_calls", []):
                call.get("function", {}).pop("name", None)
        return data

    return [(name, strip(data)) for name, data in events]


async def test_a_broken_openai_stream_is_a_retryable_invalid_response(
    ts_client: Client, openai_settings: Settings, openai_server: OpenAIServer
) -> None:
    cases = {
        "no finish_reason": Malformed(_drop_finish_reason),
        "arguments for a call never started": Malformed(_arguments_for_an_unstarted_call, reply=TOOL_REPLY),
        "a tool call without a name": Malformed(_tool_call_without_a_name, reply=TOOL_REPLY),
    }
    await _assert_each_is_an_invalid_response(ts_client, openai_settings, openai_server, cases)
