"""A local server speaking the Anthropic Messages API (`POST /v1/messages`), for the real SDK.

Answers with and without `stream: true` (SSE: message_start, content_block_start/delta/stop with
text_delta and input_json_delta, message_delta with usage and stop_reason, message_stop), error bodies
`{"type": "error", "error": {...}}` with their headers, and whatever a test scripts (see
`scripted_server`). Unscripted requests get the offline model's answer for the request's
`x-ai-workflows-step-kind`, so whole workflows run over the Anthropic protocol against it. Prompt
caching is simulated: a `cache_control` prefix seen before is reported as cache read, a new one as
cache write. `AnthropicServer(event_interval_s=...)` paces a stream (a pause after each event).

Broken streams for `Malformed` (events missing, duplicated, out of order) are in `BROKEN_STREAMS`.

    with AnthropicServer() as server:
        server.script(Fail(429, "rate_limit_error", headers={"retry-after": "2"}))
        client = AsyncAnthropic(api_key="test", base_url=server.base_url, max_retries=0)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, get_args

from activities.llm.models import (
    ContentBlock,
    LLMRequest,
    Message,
    StepKind,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
)
from activities.llm.providers.offline import OfflineProvider
from tests.fakes.scripted_server import (
    Fail,
    Outcome,
    RecordedRequest,
    Reply,
    ScriptedServer,
    SseEvent,
    StreamError,
    chunks,
    sse,
)

_STEP_KINDS = set(get_args(StepKind))


class AnthropicServer(ScriptedServer):
    route_path = "/v1/messages"

    def __init__(self, event_interval_s: float = 0.0) -> None:
        super().__init__()
        self._offline = OfflineProvider()
        # A pause after each streamed event: a reply arrives over time, as a real model writes it.
        self.event_interval_s = event_interval_s
        self._cache = PromptCache()

    async def answer(self, request: RecordedRequest, reply: Reply) -> Reply:
        model = reply.model or str(request.body.get("model") or self.default_model)
        content, stop_reason, usage = reply.content, reply.stop_reason, reply.usage
        if content is None or stop_reason is None:
            offline = await self._offline.complete(to_llm_request(request), model, lambda: None)
            content = content if content is not None else offline.content
            stop_reason = stop_reason or offline.stop_reason
            if usage is None:
                usage = self._cache.usage(request.body, output_tokens=offline.usage.output_tokens)
        if usage is None:
            usage = self._cache.usage(request.body, output_tokens=_tokens(json.dumps(_dump(content))))
        return Reply(content=content, stop_reason=stop_reason, usage=usage, model=model)

    def reply_body(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        assert reply.content is not None and reply.usage is not None
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": [_to_wire(block) for block in reply.content],
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": _wire_usage(reply.usage),
        }

    def stream_events(self, request: RecordedRequest, reply: Reply) -> list[str]:
        assert reply.content is not None and reply.usage is not None
        start = self.reply_body(request, reply) | {"content": [], "stop_reason": None}
        start["usage"] = _wire_usage(reply.usage) | {"output_tokens": 1}
        events = [sse("message_start", {"type": "message_start", "message": start})]
        events.append(sse("ping", {"type": "ping"}))
        for index, block in enumerate(reply.content):
            events += _block_events(index, block)
        events.append(
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": reply.usage.output_tokens},
                },
            )
        )
        events.append(sse("message_stop", {"type": "message_stop"}))
        return events

    async def _stream(self, events: list[str], outcome: Outcome) -> AsyncIterator[bytes]:
        async for event in super()._stream(events, outcome):
            yield event
            if self.event_interval_s:
                await asyncio.sleep(self.event_interval_s)  # pacing the reply, not synchronisation

    def error_body(self, fail: Fail) -> dict[str, Any]:
        error: dict[str, Any] = {"type": fail.error_type, "message": fail.message}
        if fail.error_code:
            error["details"] = {"error_code": fail.error_code}
        return {"type": "error", "error": error}

    def stream_error_event(self, error: StreamError) -> str:
        return sse("error", {"type": "error", "error": {"type": error.error_type, "message": error.message}})


class PromptCache:
    """Anthropic's prompt cache, in miniature: the prefix up to each `cache_control` block (tools,
    then system, then messages) is cached; a request whose prefix was seen reads it back."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def usage(self, body: dict[str, Any], output_tokens: int) -> Usage:
        system = body.get("system") or []
        items: list[Any] = [*(body.get("tools") or [])]
        items += [{"type": "text", "text": system}] if isinstance(system, str) else list(system)
        for message in body.get("messages") or []:
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            items += [{"role": message.get("role"), **block} for block in blocks]

        prefix = hashlib.sha256()
        chars = 0
        breakpoints: list[tuple[str, int]] = []
        for item in items:
            clean = {k: v for k, v in item.items() if k != "cache_control"}
            text = json.dumps(clean, sort_keys=True)
            prefix.update(text.encode())
            chars += len(text)
            if item.get("cache_control"):
                breakpoints.append((prefix.copy().hexdigest(), chars))

        with self._lock:
            read = max((_tokens_of(c) for d, c in breakpoints if d in self._seen), default=0)
            write = 0
            if breakpoints and breakpoints[-1][0] not in self._seen:
                write = _tokens_of(breakpoints[-1][1]) - read
            self._seen.update(digest for digest, _ in breakpoints)
        return Usage(
            input_tokens=max(1, _tokens_of(chars) - read - write),
            output_tokens=output_tokens,
            cache_write_tokens=write,
            cache_read_tokens=read,
        )


def to_llm_request(request: RecordedRequest) -> LLMRequest:
    """The Messages API request as ours (for the offline model)."""
    body = request.body
    system = body.get("system") or ""
    if not isinstance(system, str):
        system = "\n".join(block.get("text", "") for block in system)
    kind = request.step_kind if request.step_kind in _STEP_KINDS else "chat"
    return LLMRequest(
        model=body.get("model"),
        system=system,
        messages=[_from_wire_message(m) for m in body.get("messages") or []],
        tools=[
            ToolSpec(name=t["name"], description=t.get("description", ""), input_schema=t["input_schema"])
            for t in body.get("tools") or []
        ],
        max_tokens=body.get("max_tokens", 1024),
        step_kind=kind,
        step=request.step.rsplit("/", 1)[-1],
    )


def _from_wire_message(message: dict[str, Any]) -> Message:
    content = message.get("content")
    if isinstance(content, str):
        return Message(role=message["role"], content=[TextBlock(text=content)])
    blocks: list[ContentBlock] = []
    for block in content or []:
        if block["type"] == "text":
            blocks.append(TextBlock(text=block["text"]))
        elif block["type"] == "tool_use":
            blocks.append(ToolUseBlock(id=block["id"], name=block["name"], input=block.get("input") or {}))
        elif block["type"] == "tool_result":
            result = block.get("content", "")
            if not isinstance(result, str):
                result = "".join(part.get("text", "") for part in result)
            blocks.append(
                ToolResultBlock(
                    tool_use_id=block["tool_use_id"], content=result, is_error=block.get("is_error", False)
                )
            )
    return Message(role=message["role"], content=blocks)


def _block_events(index: int, block: ContentBlock) -> list[str]:
    start: dict[str, Any]
    if isinstance(block, TextBlock):
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in chunks(block.text, 16)]
    elif isinstance(block, ToolUseBlock):
        start = {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": piece}
            for piece in chunks(json.dumps(block.input), 7)
        ]
    else:
        raise ValueError("a model does not answer with tool_result blocks")
    events = [
        sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
    ]
    events += [
        sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        for delta in deltas
    ]
    events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def _to_wire(block: ContentBlock) -> dict[str, Any]:
    return block.model_dump()


def _dump(content: list[ContentBlock]) -> list[dict[str, Any]]:
    return [block.model_dump() for block in content]


def _wire_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def _tokens(text: str) -> int:
    return _tokens_of(len(text))


def _tokens_of(chars: int) -> int:
    return math.ceil(chars / 4)


# -- broken streams ----------------------------------------------------------------------------------


def _is_block_event(event: SseEvent) -> bool:
    return bool(event[0] and event[0].startswith("content_block"))


def _first(events: list[SseEvent], name: str) -> int:
    return next(i for i, (event, _) in enumerate(events) if event == name)


def _without(name: str) -> Callable[[list[SseEvent]], list[SseEvent]]:
    return lambda events: [event for event in events if event[0] != name]


def _shift_indices(events: list[SseEvent]) -> list[SseEvent]:
    return [(n, d | {"index": d["index"] + 1}) if _is_block_event((n, d)) else (n, d) for n, d in events]


def _duplicate_first_block(events: list[SseEvent]) -> list[SseEvent]:
    at = _first(events, "content_block_start")
    return [*events[: at + 1], events[at], *events[at + 1 :]]


def _delta_for_unknown_block(events: list[SseEvent]) -> list[SseEvent]:
    at = _first(events, "content_block_delta")
    stray = ("content_block_delta", events[at][1] | {"index": 9})
    return [*events[: at + 1], stray, *events[at + 1 :]]


def _edit_message_delta(
    edit: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[[list[SseEvent]], list[SseEvent]]:
    return lambda events: [(n, edit(d)) if n == "message_delta" else (n, d) for n, d in events]


def _start_without_usage(events: list[SseEvent]) -> list[SseEvent]:
    def strip(data: dict[str, Any]) -> dict[str, Any]:
        return data | {"message": {k: v for k, v in data["message"].items() if k != "usage"}}

    return [(n, strip(d)) if n == "message_start" else (n, d) for n, d in events]


def _event_after_stop(events: list[SseEvent]) -> list[SseEvent]:
    return [*events, events[_first(events, "content_block_delta")]]


# What a test scripts as `Malformed(BROKEN_STREAMS[name])`: each one a stream the SDK's own
# accumulator would have turned into a plausible reply.
BROKEN_STREAMS: dict[str, Callable[[list[SseEvent]], list[SseEvent]]] = {
    "block indices start at 1": _shift_indices,
    "a content block started twice": _duplicate_first_block,
    "a delta for a block never started": _delta_for_unknown_block,
    "a block never stopped": _without("content_block_stop"),
    "no message_delta": _without("message_delta"),
    "no message_stop": _without("message_stop"),
    "no stop reason": _edit_message_delta(lambda d: d | {"delta": d["delta"] | {"stop_reason": None}}),
    "no output usage": _edit_message_delta(lambda d: {k: v for k, v in d.items() if k != "usage"}),
    "no input usage": _start_without_usage,
    "an event after message_stop": _event_after_stop,
}
