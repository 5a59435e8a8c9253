"""`execute_tool {name}` spans and tool metrics for every `tool.*` activity, from one worker interceptor.

An interceptor (not code in each tool) so that every declared tool, present and future, is
traced the same way. It runs inside Temporal's OpenTelemetry interceptor, so the span is a child of
`RunActivity:tool.{name}` in the run's trace. A tool that returns an error observation (the model
sees it; the workflow goes on) is an error too: `error.type` = `tool_error`. Arguments and results
appear only when content capture is on (OTEL_CAPTURE_CONTENT).
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from pydantic import BaseModel
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.llm.tracing import error_type
from activities.tools.declare import registry
from common import metrics
from common.contracts.tools import ToolObservation
from common.redact import masked_urls_in
from common.telemetry import capture_content

__all__ = ["ToolTracingInterceptor"]

TRACER_NAME = "ai_workflows.tools"
TOOL_ACTIVITY_PREFIX = "tool."
MCP_CALL_ACTIVITY = "mcp.call_tool"  # an MCP server's tool: its name (`server__tool`) is in the input
TOOL_ERROR = "tool_error"  # error.type of an error observation


def _as_json(value: Any) -> str:
    """Captured content, with URL query values and credentials masked: they may hold a token."""
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return json.dumps(masked_urls_in(data), default=str)


class _ToolSpanActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        mcp_call = info.activity_type == MCP_CALL_ACTIVITY and bool(input.args)
        if not info.activity_type.startswith(TOOL_ACTIVITY_PREFIX) and not mcp_call:
            return await self.next.execute_activity(input)
        name = info.activity_type.removeprefix(TOOL_ACTIVITY_PREFIX)
        tool = registry.get(name)
        side_effect = bool(tool and tool.side_effect)
        if mcp_call:
            name = str(getattr(input.args[0], "name", name))
            # An MCP call carries a key exactly when its tool is not read-only.
            side_effect = getattr(input.args[0], "idempotency_key", None) is not None
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "extension" if mcp_call else "function",
            "gen_ai.conversation.id": info.workflow_id or "",
            "ai_workflows.attempt": info.attempt,
            "ai_workflows.tool.side_effect": side_effect,
        }
        if tool is not None:
            attributes["gen_ai.tool.description"] = tool.description
        if capture_content() and input.args:
            attributes["gen_ai.tool.call.arguments"] = _as_json(input.args[0])
        with trace.get_tracer(TRACER_NAME).start_as_current_span(
            f"execute_tool {name}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            set_status_on_exception=False,
        ) as span:
            try:
                result = await self.next.execute_activity(input)
            except BaseException as error:
                kind = error_type(error)
                span.set_attribute("error.type", kind)
                span.set_status(Status(StatusCode.ERROR, kind))
                metrics.current().record_tool_call(name, kind)
                raise
            failed = isinstance(result, ToolObservation) and result.is_error
            if failed:
                span.set_attribute("error.type", TOOL_ERROR)
                span.set_status(Status(StatusCode.ERROR, TOOL_ERROR))
            if capture_content():
                span.set_attribute("gen_ai.tool.call.result", _as_json(result))
            metrics.current().record_tool_call(name, TOOL_ERROR if failed else None)
            return result


class ToolTracingInterceptor(Interceptor):
    """Worker interceptor: pass it in the worker's `interceptors` (inner to the tracing plugin)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ToolSpanActivityInbound(next)
