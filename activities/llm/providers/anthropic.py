"""Anthropic Messages API through the official SDK, streamed, with prompt caching.

One `AsyncAnthropic` client per worker process (its connection pool is shared by every call), built
with `max_retries=0`: Temporal owns retries, and each activity attempt is exactly one HTTP request.
"""

from __future__ import annotations

import json
from typing import Any, cast

import httpx2
from anthropic import AsyncAnthropic
from anthropic.types import (
    CacheControlEphemeralParam,
    MessageParam,
    TextBlockParam,
    ToolParam,
)

from activities.llm.call_context import CallContext, report_usage
from activities.llm.errors import classified_errors
from activities.llm.providers.anthropic_stream import MessageAssembler, text_delta
from activities.llm.providers.base import Heartbeat, report_text
from common.contracts.llm import (
    ContentBlock,
    LLMRequest,
    Message,
    ProviderReply,
    TextBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
)

__all__ = ["DEFAULT_ANTHROPIC_MODEL", "STRUCTURED_OUTPUT_TOOL", "AnthropicProvider"]

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5"  # the current Sonnet: speed and quality
# The SDK's own defaults: ten minutes for a response, five seconds to connect.
_RESPONSE_TIMEOUT_S = 600.0
_CONNECT_TIMEOUT_S = 5.0
_CACHE: CacheControlEphemeralParam = {"type": "ephemeral"}
STRUCTURED_OUTPUT_TOOL = "respond"  # the forced tool of a request with `response_schema`


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self, api_key: str, base_url: str | None = None, default_model: str = DEFAULT_ANTHROPIC_MODEL
    ):
        self.default_model = default_model
        # The SDK's own `anthropic.messages.create` span is off: it is a second GenAI `chat` span
        # with the same call's token usage under ours, so backends that sum GenAI spans would count
        # every call twice (docs/observability.md). Given explicitly, this also makes the SDK ignore
        # the ANTHROPIC_OPEN_TELEMETRY* variables.
        self._client = AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, open_telemetry={"traces": False}
        )

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        context = CallContext.current()
        assembler = MessageAssembler(self.name)
        with classified_errors(self.name):
            # The raw events, not the SDK's accumulating stream: that one skips events it does not
            # expect, and a reply from a broken stream must be refused (anthropic_stream.py).
            stream = await self._client.messages.create(
                model=model,
                max_tokens=request.max_tokens,
                # No `temperature`: the Messages API of SDK 2.x has none (models choose their own
                # sampling); `LLMRequest.temperature` applies to OpenAI-compatible servers.
                messages=to_anthropic_messages(request.messages, cache=request.prompt_caching),
                **_system_and_tools(request),
                stream=True,
                extra_headers=context.headers(request),
                timeout=httpx2.Timeout(
                    _RESPONSE_TIMEOUT_S,
                    connect=_CONNECT_TIMEOUT_S,
                    read=context.read_timeout(_RESPONSE_TIMEOUT_S),
                ),
            )
            async with stream:
                async for event in stream:
                    heartbeat()  # each event proves the stream is moving (worker/liveness.py)
                    if assembler.add(event):
                        # Billed from here on: kept in the heartbeat details if this attempt fails.
                        report_usage(assembler.usage or Usage(), assembler.model or None)
                    report_text(text_delta(event))  # after add: only text of a well-formed stream
        reply = assembler.reply()
        return structured_reply(reply) if request.response_schema is not None else reply


def structured_reply(reply: ProviderReply) -> ProviderReply:
    """The forced tool's input is the structured reply: as JSON text, as other providers give it."""
    content: list[ContentBlock] = [
        TextBlock(text=json.dumps(block.input))
        if isinstance(block, ToolUseBlock) and block.name == STRUCTURED_OUTPUT_TOOL
        else block
        for block in reply.content
    ]
    return reply.model_copy(update={"content": content})


def to_anthropic_messages(messages: list[Message], *, cache: bool) -> list[MessageParam]:
    """Our content blocks as Anthropic's. With caching, the conversation so far (everything up to and
    including the last block) is the cached prefix the next turn reads back."""
    contents = [[_to_anthropic_block(block) for block in message.content] for message in messages]
    if cache and contents and contents[-1]:
        contents[-1][-1]["cache_control"] = dict(_CACHE)
    converted = [
        {"role": message.role, "content": blocks} for message, blocks in zip(messages, contents, strict=True)
    ]
    return cast(list[MessageParam], converted)


def _to_anthropic_block(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return {
        "type": "tool_result",
        "tool_use_id": block.tool_use_id,
        "content": block.content,
        "is_error": block.is_error,
    }


def _system_and_tools(request: LLMRequest) -> dict[str, Any]:
    """System prompt and tool schemas: the stable prefix, marked for caching (their last block)."""
    params: dict[str, Any] = {}
    if request.system:
        system: TextBlockParam = {"type": "text", "text": request.system}
        if request.prompt_caching:
            system["cache_control"] = dict(_CACHE)  # type: ignore[typeddict-item]
        params["system"] = [system]
    tools = [_to_anthropic_tool(tool) for tool in request.tools]
    if request.response_schema is not None:
        # Tool-forced output: the model must call this tool, and its input follows the schema.
        tools.append(
            {
                "name": STRUCTURED_OUTPUT_TOOL,
                "description": "Reply with your answer as this tool's input.",
                "input_schema": request.response_schema,
            }
        )
        params["tool_choice"] = {"type": "tool", "name": STRUCTURED_OUTPUT_TOOL}
    if tools:
        if request.prompt_caching:
            tools[-1]["cache_control"] = dict(_CACHE)  # type: ignore[typeddict-item]
        params["tools"] = tools
    return params


def _to_anthropic_tool(tool: ToolSpec) -> ToolParam:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
