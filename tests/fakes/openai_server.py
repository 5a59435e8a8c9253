"""A local OpenAI-compatible chat-completions server (`POST /v1/chat/completions`), the shape Ollama,
vLLM and LM Studio serve.

Answers with and without `stream: true` (SSE `data:` chunks with content and tool_call deltas, a
finish_reason chunk, a usage chunk when `stream_options.include_usage`, then `data: [DONE]`), error
bodies `{"error": {"message", "type", "code"}}` with their headers, and whatever a test scripts (see
`scripted_server`). Unscripted requests get the offline model's answer for the request's
`x-ai-workflows-step-kind`; `OpenAIServer(event_interval_s=...)` paces a stream (a pause after each
event). Point the provider at `server.base_url + "/v1"`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
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
    StreamError,
    chunks,
    sse,
)

_STEP_KINDS = set(get_args(StepKind))
_FINISH_REASONS = {"end_turn": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


class OpenAIServer(ScriptedServer):
    route_path = "/v1/chat/completions"

    def __init__(self, event_interval_s: float = 0.0) -> None:
        super().__init__()
        self._offline = OfflineProvider()
        # A pause after each streamed event: a reply arrives over time, as a real model writes it.
        self.event_interval_s = event_interval_s

    @property
    def api_base(self) -> str:
        """What `OPENAI_BASE_URL` is set to (the `/v1` root, as for Ollama)."""
        return self.base_url + "/v1"

    async def answer(self, request: RecordedRequest, reply: Reply) -> Reply:
        model = reply.model or str(request.body.get("model") or self.default_model)
        content, stop_reason, usage = reply.content, reply.stop_reason, reply.usage
        if content is None or stop_reason is None or usage is None:
            offline = await self._offline.complete(to_llm_request(request), model, lambda: None)
            content = content if content is not None else offline.content
            stop_reason = stop_reason or offline.stop_reason
            usage = usage or offline.usage
        return Reply(content=content, stop_reason=stop_reason, usage=usage, model=model)

    def reply_body(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        assert reply.content is not None and reply.usage is not None and reply.stop_reason is not None
        message: dict[str, Any] = {"role": "assistant", "content": _text(reply.content) or None}
        calls = [_tool_call(block) for block in reply.content if isinstance(block, ToolUseBlock)]
        if calls:
            message["tool_calls"] = calls
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": 0,
            "model": reply.model,
            "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(reply.stop_reason)}],
            "usage": _wire_usage(reply.usage),
        }

    def stream_events(self, request: RecordedRequest, reply: Reply) -> list[str]:
        assert reply.content is not None and reply.usage is not None and reply.stop_reason is not None
        head = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk", "created": 0}
        head["model"] = reply.model

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return sse(None, head | {"choices": [choice]})

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in chunks(_text(reply.content), 16) if piece]
        tool_uses = [block for block in reply.content if isinstance(block, ToolUseBlock)]
        for index, block in enumerate(tool_uses):
            first = {"index": index, "id": block.id, "type": "function"}
            events.append(
                chunk({"tool_calls": [first | {"function": {"name": block.name, "arguments": ""}}]})
            )
            events += [
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in chunks(json.dumps(block.input), 7)
            ]
        events.append(chunk({}, _finish_reason(reply.stop_reason)))
        if (request.body.get("stream_options") or {}).get("include_usage"):
            events.append(sse(None, head | {"choices": [], "usage": _wire_usage(reply.usage)}))
        events.append(sse(None, "[DONE]"))
        return events

    async def _stream(self, events: list[str], outcome: Outcome) -> AsyncIterator[bytes]:
        async for event in super()._stream(events, outcome):
            yield event
            if self.event_interval_s:
                await asyncio.sleep(self.event_interval_s)  # pacing the reply, not synchronisation

    def error_body(self, fail: Fail) -> dict[str, Any]:
        return {"error": {"message": fail.message, "type": fail.error_type, "code": fail.error_code}}

    def stream_error_event(self, error: StreamError) -> str:
        return sse(None, {"error": {"message": error.message, "type": error.error_type, "code": None}})


def to_llm_request(request: RecordedRequest) -> LLMRequest:
    """The chat-completions request as ours (for the offline model)."""
    body = request.body
    system: list[str] = []
    messages: list[Message] = []
    pending_results: list[ContentBlock] = []
    for wire in body.get("messages") or []:
        role = wire.get("role")
        if role == "system":
            system.append(wire.get("content") or "")
        elif role == "tool":
            pending_results.append(
                ToolResultBlock(tool_use_id=wire.get("tool_call_id", ""), content=wire.get("content") or "")
            )
        elif role == "user":
            messages.append(Message(role="user", content=[*pending_results, TextBlock(text=wire["content"])]))
            pending_results = []
        elif role == "assistant":
            if pending_results:
                messages.append(Message(role="user", content=pending_results))
                pending_results = []
            blocks: list[ContentBlock] = [TextBlock(text=wire["content"])] if wire.get("content") else []
            for call in wire.get("tool_calls") or []:
                function = call["function"]
                blocks.append(
                    ToolUseBlock(
                        id=call["id"], name=function["name"], input=json.loads(function["arguments"])
                    )
                )
            messages.append(Message(role="assistant", content=blocks))
    if pending_results:
        messages.append(Message(role="user", content=pending_results))
    kind = request.step_kind if request.step_kind in _STEP_KINDS else "chat"
    return LLMRequest(
        model=body.get("model"),
        system="\n".join(system),
        messages=messages,
        tools=[
            ToolSpec(
                name=tool["function"]["name"],
                description=tool["function"].get("description", ""),
                input_schema=tool["function"].get("parameters") or {},
            )
            for tool in body.get("tools") or []
        ],
        max_tokens=body.get("max_tokens") or 1024,
        step_kind=kind,
        step=request.step.rsplit("/", 1)[-1],
    )


def _text(content: list[ContentBlock]) -> str:
    return "".join(block.text for block in content if isinstance(block, TextBlock))


def _tool_call(block: ToolUseBlock) -> dict[str, Any]:
    return {
        "id": block.id,
        "type": "function",
        "function": {"name": block.name, "arguments": json.dumps(block.input)},
    }


def _finish_reason(stop_reason: str) -> str:
    return _FINISH_REASONS.get(stop_reason, stop_reason)


def _wire_usage(usage: Usage) -> dict[str, Any]:
    """OpenAI counts cached prompt tokens inside prompt_tokens."""
    prompt = usage.input_tokens + usage.cache_read_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
    }
