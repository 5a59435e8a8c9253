"""One reply from a Messages API stream's raw events, accepted only when the stream is whole.

The SDK's own accumulator skips what it does not expect; a reply built from a stream with a missing
or malformed event would be a wrong answer that looks right. Here the stream must be: message_start
(with usage) first; content blocks started at the next index, one at a time, their deltas and stop
at that index; a message_delta with a stop reason and usage after the last block stopped; then
message_stop, and nothing after it. Anything else is a retryable `LLMInvalidResponse`. Event types
this code does not know are skipped: Anthropic may add new ones (its API versioning policy), and
they carry nothing of the reply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.llm.errors import invalid_response
from common.contracts.llm import ContentBlock, ProviderReply, TextBlock, ToolUseBlock, Usage

__all__ = ["MessageAssembler", "text_delta"]

# The stream's usage counts (Anthropic's names) and the fields of `Usage` they fill.
_USAGE_FIELDS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_creation_input_tokens": "cache_write_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
}


@dataclass
class _Block:
    kind: str
    tool_id: str = ""
    tool_name: str = ""
    parts: list[str] = field(default_factory=list)


class MessageAssembler:
    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._model = ""
        self._usage: Usage | None = None
        self._blocks: list[_Block] = []
        self._open: int | None = None  # the index of the block between its start and its stop
        self._stop_reason: str | None = None
        self._stopped = False

    @property
    def usage(self) -> Usage | None:
        """The usage the stream has reported so far (None before message_start)."""
        return self._usage

    @property
    def model(self) -> str:
        return self._model

    def add(self, event: Any) -> bool:
        """Feeds one event; True when it changed the usage. Raises `LLMInvalidResponse` for an event
        that does not fit the stream so far."""
        kind = getattr(event, "type", None)
        if self._stopped:
            raise self._broken(f"{kind} event after message_stop")
        if kind != "message_start" and self._usage is None and kind in _HANDLED:
            raise self._broken(f"{kind} event before message_start")
        handler = _HANDLED.get(str(kind))
        return handler(self, event) if handler is not None else False

    def reply(self) -> ProviderReply:
        if not self._stopped:
            raise self._broken("stream ended before message_stop")
        assert self._usage is not None and self._stop_reason is not None
        content: list[ContentBlock] = []
        for block in self._blocks:
            if block.kind == "text":
                content.append(TextBlock(text="".join(block.parts)))
            elif block.kind == "tool_use":
                content.append(
                    ToolUseBlock(id=block.tool_id, name=block.tool_name, input=self._tool_input(block))
                )
            # Other block types (thinking, server tools) are not part of our contract: dropped.
        return ProviderReply(
            content=content, stop_reason=self._stop_reason, usage=self._usage, model=self._model
        )

    # -- events ------------------------------------------------------------------------------------

    def _message_start(self, event: Any) -> bool:
        if self._usage is not None:
            raise self._broken("a second message_start")
        message = getattr(event, "message", None)
        usage = _usage_of(getattr(message, "usage", None), Usage(), required="input_tokens")
        if usage is None:
            raise self._broken("message_start without usage")
        self._model = str(getattr(message, "model", None) or "")
        self._usage = usage
        return True

    def _block_start(self, event: Any) -> bool:
        index = getattr(event, "index", None)
        if self._open is not None:
            raise self._broken(f"content block {index} started before block {self._open} stopped")
        if index != len(self._blocks):
            raise self._broken(f"content block {index} started, expected block {len(self._blocks)}")
        block = getattr(event, "content_block", None)
        kind = str(getattr(block, "type", None) or "")
        if not kind:
            raise self._broken(f"content block {index} has no type")
        started = _Block(kind)
        if kind == "tool_use":
            started.tool_id = str(getattr(block, "id", None) or "")
            started.tool_name = str(getattr(block, "name", None) or "")
            if not started.tool_id or not started.tool_name:
                raise self._broken(f"tool_use block {index} without id or name")
        initial_text = getattr(block, "text", None)
        if kind == "text" and initial_text:
            started.parts.append(str(initial_text))
        self._blocks.append(started)
        self._open = index
        return False

    def _block_delta(self, event: Any) -> bool:
        block = self._at_open_block(event, "content_block_delta")
        delta = getattr(event, "delta", None)
        delta_type = getattr(delta, "type", None)
        if delta_type == "text_delta":
            text = getattr(delta, "text", None)
            if block.kind != "text" or not isinstance(text, str):
                raise self._broken(f"text_delta for a {block.kind} block")
            block.parts.append(text)
        elif delta_type == "input_json_delta":
            partial = getattr(delta, "partial_json", None)
            if block.kind != "tool_use" or not isinstance(partial, str):
                raise self._broken(f"input_json_delta for a {block.kind} block")
            block.parts.append(partial)
        elif delta_type is None:
            raise self._broken("content_block_delta without a delta type")
        return False

    def _block_stop(self, event: Any) -> bool:
        block = self._at_open_block(event, "content_block_stop")
        if block.kind == "tool_use":
            self._tool_input(block)  # a tool input that is not JSON is a broken stream, seen here
        self._open = None
        return False

    def _message_delta(self, event: Any) -> bool:
        if self._open is not None:
            raise self._broken(f"message_delta before content block {self._open} stopped")
        stop_reason = getattr(getattr(event, "delta", None), "stop_reason", None)
        if not stop_reason:
            raise self._broken("message_delta without a stop reason")
        assert self._usage is not None
        usage = _usage_of(getattr(event, "usage", None), self._usage, required="output_tokens")
        if usage is None:
            raise self._broken("message_delta without usage")
        self._stop_reason = str(stop_reason)
        self._usage = usage
        return True

    def _message_stop(self, event: Any) -> bool:
        if self._stop_reason is None:
            raise self._broken("message_stop without a message_delta (no stop reason or usage)")
        self._stopped = True
        return False

    # -- helpers -----------------------------------------------------------------------------------

    def _at_open_block(self, event: Any, kind: str) -> _Block:
        index = getattr(event, "index", None)
        if self._open is None or index != self._open:
            raise self._broken(f"{kind} for block {index}, but the open block is {self._open}")
        return self._blocks[index]

    def _tool_input(self, block: _Block) -> dict[str, Any]:
        raw = "".join(block.parts)
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            raise self._broken(f"tool_use input is not JSON: {raw[:100]}") from None
        if not isinstance(parsed, dict):
            raise self._broken("tool_use input is not a JSON object")
        return parsed

    def _broken(self, what: str) -> ApplicationError:
        return invalid_response(self._provider, f"malformed stream: {what}")


def text_delta(event: Any) -> str:
    """The reply text a (validated) event adds: a text_delta's text, or a text block's initial text;
    "" for any other event."""
    kind = getattr(event, "type", None)
    if kind == "content_block_delta":
        delta = getattr(event, "delta", None)
        text = getattr(delta, "text", None) if getattr(delta, "type", None) == "text_delta" else None
    elif kind == "content_block_start":
        block = getattr(event, "content_block", None)
        text = getattr(block, "text", None) if getattr(block, "type", None) == "text" else None
    else:
        text = None
    return text if isinstance(text, str) else ""


def _usage_of(raw: Any, base: Usage, *, required: str) -> Usage | None:
    """`base` updated with the counts `raw` reports (message_delta's are cumulative); None when the
    count this event must carry is missing (input at message_start, output at message_delta)."""
    if raw is None or getattr(raw, required, None) is None:
        return None
    counts = {field: getattr(raw, wire, None) for wire, field in _USAGE_FIELDS.items()}
    return base.model_copy(update={field: int(value) for field, value in counts.items() if value is not None})


_HANDLED = {
    "message_start": MessageAssembler._message_start,
    "content_block_start": MessageAssembler._block_start,
    "content_block_delta": MessageAssembler._block_delta,
    "content_block_stop": MessageAssembler._block_stop,
    "message_delta": MessageAssembler._message_delta,
    "message_stop": MessageAssembler._message_stop,
}
