"""The scripted model: answers each request with the first rule of a script that matches it
(common/llm_script.py), and a request no rule matches with the offline model's answer.

It drives the parts the offline model never reaches (an extension's tools, MCP tools, a failing or
slow model) from the CLI (`LLM_PROVIDER=scripted`, `LLM_SCRIPT_FILE`) and from tests
(`workflows.kit.testing.ScriptedModel`). A rule's `error` raises the classified error a real
provider raises for that HTTP status (activities/llm/errors.py), so Temporal retries it or not
exactly as it would a real 429, 529 or 400.

Its model is the offline model's (`offline-model`), so costs and budgets behave alike; the offline
answers it falls back to say `[scripted model]` instead of `[offline model]`. A streamed reply
(`LLMRequest.stream_reply`) comes in a few chunks, as the offline model's does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.llm.call_context import report_usage
from activities.llm.errors import classify_status
from activities.llm.providers.base import Heartbeat
from activities.llm.providers.offline import LABEL as OFFLINE_LABEL
from activities.llm.providers.offline import (
    OFFLINE_MODEL,
    OfflineProvider,
    _message_text,
    _tokens,
    stream_text,
)
from common.contracts import llm
from common.llm_script import ScriptErrorKind, ScriptMatch, ScriptRule, load_script

__all__ = ["SCRIPTED_LABEL", "ScriptedProvider", "matching_rule"]

SCRIPTED_LABEL = "[scripted model]"
# The HTTP status (and Anthropic error type) each scripted error stands for.
_ERROR_STATUS: dict[ScriptErrorKind, tuple[int, str]] = {
    "rate_limited": (429, "rate_limit_error"),
    "overloaded": (529, "overloaded_error"),
    "invalid_request": (400, "invalid_request_error"),
}
# A delayed reply heartbeats at least this often, as a streaming provider does on each event.
_HEARTBEAT_EVERY_S = 1.0


def matching_rule(rules: Sequence[ScriptRule], request: llm.LLMRequest, attempt: int = 1) -> int | None:
    """The index of the first rule that matches `request` (on activity attempt `attempt`), or None."""
    turn = sum(1 for message in request.messages if message.role == "assistant")
    for index, rule in enumerate(rules):
        if _matches(rule.match, request, turn, attempt):
            return index
    return None


def _matches(match: ScriptMatch, request: llm.LLMRequest, turn: int, attempt: int) -> bool:
    if match.step_kind is not None and match.step_kind != request.step_kind:
        return False
    if match.turn is not None and match.turn != turn:
        return False
    if match.attempt is not None and match.attempt != attempt:
        return False
    return match.contains is None or any(match.contains in text for text in _searched_texts(request))


def _searched_texts(request: llm.LLMRequest) -> list[str]:
    """What `contains` looks in: the last user message (its text and the tool results it carries),
    and the last tool result of the conversation."""
    texts: list[str] = []
    last_user = next((m for m in reversed(request.messages) if m.role == "user"), None)
    if last_user is not None:
        texts.append(_message_text(llm.Message(role="user", content=_not_tool_calls(last_user))))
    results = [b for m in request.messages for b in m.content if isinstance(b, llm.ToolResultBlock)]
    if results:
        texts.append(results[-1].content)
    return texts


def _not_tool_calls(message: llm.Message) -> list[llm.ContentBlock]:
    return [block for block in message.content if not isinstance(block, llm.ToolUseBlock)]


class ScriptedProvider:
    name = "scripted"
    default_model = OFFLINE_MODEL

    def __init__(self, rules: Sequence[ScriptRule]) -> None:
        self.rules: tuple[ScriptRule, ...] = tuple(rules)
        self._offline = OfflineProvider()

    @classmethod
    def from_file(cls, path: Path) -> ScriptedProvider:
        """The provider of a script file; `common.llm_script.ScriptError` if it does not parse."""
        return cls(load_script(path))

    async def complete(self, request: llm.LLMRequest, model: str, heartbeat: Heartbeat) -> llm.ProviderReply:
        heartbeat()
        attempt = activity.info().attempt if activity.in_activity() else 1
        index = matching_rule(self.rules, request, attempt)
        if index is None:
            # The offline answer, relabelled before it streams: a client sees what the reply says.
            fallback = _relabelled(self._offline.reply(request, model))
            await stream_text(fallback.content)
            return fallback
        rule = self.rules[index]
        reply = rule.reply
        await _wait(reply.delay_s, heartbeat)
        if reply.error is not None:
            if reply.usage is not None:  # what the failed attempt spent: counted by the workflow
                report_usage(reply.usage.to_usage(), model)
            raise _scripted_error(reply.error, index, rule)
        content: list[llm.ContentBlock]
        if reply.tool_calls is not None:
            turn = sum(1 for message in request.messages if message.role == "assistant")
            content = [
                llm.ToolUseBlock(id=f"toolu_scripted_{turn}_{n}", name=call.name, input=dict(call.input))
                for n, call in enumerate(reply.tool_calls)
            ]
        else:
            content = [llm.TextBlock(text=reply.text or "")]
            await stream_text(content)
        return llm.ProviderReply(
            content=content,
            stop_reason="tool_use" if reply.tool_calls is not None else "end_turn",
            usage=reply.usage.to_usage() if reply.usage is not None else _estimated_usage(request, content),
            model=model,
        )


async def _wait(delay_s: float, heartbeat: Heartbeat) -> None:
    deadline = time.monotonic() + delay_s
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, _HEARTBEAT_EVERY_S))
        heartbeat()


def _scripted_error(kind: ScriptErrorKind, index: int, rule: ScriptRule) -> ApplicationError:
    status, error_type = _ERROR_STATUS[kind]
    label = f"rule {index + 1}" + (f" {rule.name!r}" if rule.name else "")
    message = f"{kind} by {label} of the script"
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return classify_status(provider=ScriptedProvider.name, status=status, headers={}, body=body)


def _estimated_usage(request: llm.LLMRequest, content: list[llm.ContentBlock]) -> llm.Usage:
    """Tokens as the offline model counts them: a quarter of the characters in and out."""
    prompt = request.system + "".join(_message_text(m) for m in request.messages)
    prompt += "".join(t.name + t.description for t in request.tools)
    output = "".join(b.text if isinstance(b, llm.TextBlock) else b.model_dump_json() for b in content)
    return llm.Usage(input_tokens=_tokens(prompt), output_tokens=_tokens(output))


def _relabelled(reply: llm.ProviderReply) -> llm.ProviderReply:
    """The offline model's answer, saying it comes from the scripted model."""
    content: list[llm.ContentBlock] = [
        llm.TextBlock(text=block.text.replace(OFFLINE_LABEL, SCRIPTED_LABEL))
        if isinstance(block, llm.TextBlock)
        else block
        for block in reply.content
    ]
    return reply.model_copy(update={"content": content})
