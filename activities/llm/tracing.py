"""The span and metrics of one LLM call, per the OpenTelemetry GenAI semantic conventions.

`chat {model}` (kind CLIENT) is a child of the activity's `RunActivity:llm.complete` span, so it sits in
the run's trace. Attributes: `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
`gen_ai.response.model`, `gen_ai.usage.*` (input includes cached input, as the conventions ask;
cache reads and writes are also given apart), `gen_ai.response.finish_reasons`, `error.type` on
failure, and the product's `ai_workflows.step`, `ai_workflows.iteration`, `ai_workflows.cost_usd`
(every attempt's), `ai_workflows.priced`, and the failed attempts' usage apart from the answering
one's: `ai_workflows.retried.input_tokens` / `.output_tokens` / `.attempts` / `.cost_usd`.
Prompts and completions are added only when content capture is on (OTEL_CAPTURE_CONTENT).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from temporalio import activity
from temporalio.exceptions import ApplicationError

from common import metrics
from common.contracts.llm import (
    ContentBlock,
    LLMRequest,
    LLMResponse,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from common.telemetry import capture_content

__all__ = ["error_type", "llm_call_span"]

TRACER_NAME = "ai_workflows.llm"
_TRAILING_NUMBER = re.compile(r"(\d+)\s*$")
# Provider stop reasons -> the conventions' finish_reason values for output messages.
_FINISH_REASON = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "stop": "stop",
    "max_tokens": "length",
    "length": "length",
    "tool_use": "tool_call",
    "tool_calls": "tool_call",
    "refusal": "content_filter",
    "content_filter": "content_filter",
}


def error_type(error: BaseException) -> str:
    """`error.type`: a typed ApplicationError's type, else the exception class name."""
    if isinstance(error, ApplicationError) and error.type:
        return error.type
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return type(error).__qualname__


def _input_tokens(usage: Usage) -> int:
    """Input as the conventions count it: cached input included."""
    return usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens


def iteration_of(step: str) -> int | None:
    """The number a step label ends with ("llm step 3" -> 3, "research 2" -> 2), if any."""
    match = _TRAILING_NUMBER.search(step)
    return int(match.group(1)) if match else None


def _part(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "content": block.text}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_call", "id": block.id, "name": block.name, "arguments": block.input}
    assert isinstance(block, ToolResultBlock)
    return {"type": "tool_call_response", "id": block.tool_use_id, "response": block.content}


def _messages_json(messages: list[Message]) -> str:
    return json.dumps([{"role": m.role, "parts": [_part(b) for b in m.content]} for m in messages])


def request_attributes(request: LLMRequest, model: str, provider: str) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": request.max_tokens,
        "gen_ai.request.temperature": request.temperature,
        "ai_workflows.step.kind": request.step_kind,
    }
    if request.step:
        attributes["ai_workflows.step"] = request.step
        iteration = iteration_of(request.step)
        if iteration is not None:
            attributes["ai_workflows.iteration"] = iteration
    if activity.in_activity():
        info = activity.info()
        # The run is the conversation: every LLM call of one workflow shares it.
        attributes["gen_ai.conversation.id"] = info.workflow_id or ""
        attributes["ai_workflows.attempt"] = info.attempt
    return attributes


class LLMCallSpan:
    """What the activity reports back into the open span: the response."""

    def __init__(self, span: Span, metric_attributes: dict[str, AttributeValue]):
        self._span = span
        self._metric_attributes = metric_attributes
        self.response: LLMResponse | None = None

    def record(self, response: LLMResponse) -> None:
        self.response = response
        usage = response.usage
        cached = usage.cache_read_tokens + usage.cache_write_tokens
        self._span.set_attributes(
            {
                "gen_ai.response.model": response.model,
                "gen_ai.response.finish_reasons": [response.stop_reason],
                "gen_ai.usage.input_tokens": usage.input_tokens + cached,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens,
                "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens,
                "ai_workflows.cost_usd": response.cost_usd,
                "ai_workflows.priced": response.priced,
                "ai_workflows.retried.input_tokens": _input_tokens(response.retried_usage),
                "ai_workflows.retried.output_tokens": response.retried_usage.output_tokens,
                "ai_workflows.retried.attempts": response.retried_attempts,
                "ai_workflows.retried.cost_usd": response.retried_cost_usd,
            }
        )
        if capture_content():
            self._span.set_attribute(
                "gen_ai.output.messages",
                json.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [_part(b) for b in response.content],
                            "finish_reason": _FINISH_REASON.get(response.stop_reason, response.stop_reason),
                        }
                    ]
                ),
            )
        self._metric_attributes["gen_ai.response.model"] = response.model


@contextmanager
def llm_call_span(request: LLMRequest, model: str, provider: str) -> Iterator[LLMCallSpan]:
    """Wrap one provider call: `with llm_call_span(...) as call: ...; call.record(response)`."""
    attributes = request_attributes(request, model, provider)
    if capture_content():
        if request.system:
            attributes["gen_ai.system_instructions"] = json.dumps(
                [{"type": "text", "content": request.system}]
            )
        attributes["gen_ai.input.messages"] = _messages_json(request.messages)
        if request.tools:
            attributes["gen_ai.tool.definitions"] = json.dumps([t.model_dump() for t in request.tools])
    metric_attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }
    tracer = trace.get_tracer(TRACER_NAME)
    started = time.monotonic()
    with tracer.start_as_current_span(
        f"chat {model}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=True,
        set_status_on_exception=False,
    ) as span:
        call = LLMCallSpan(span, metric_attributes)
        try:
            yield call
        except BaseException as error:
            kind = error_type(error)
            span.set_attribute("error.type", kind)
            span.set_status(Status(StatusCode.ERROR, kind))
            metric_attributes["error.type"] = kind
            raise
        finally:
            response = call.response
            metrics.current().record_llm_call(
                metric_attributes,
                duration_s=time.monotonic() - started,
                # Every attempt's tokens, as the cost counts every attempt.
                input_tokens=None
                if response is None
                else _input_tokens(response.usage) + _input_tokens(response.retried_usage),
                output_tokens=None
                if response is None
                else response.usage.output_tokens + response.retried_usage.output_tokens,
                cost_usd=None if response is None else response.cost_usd,
            )
