"""`execute_tool {name}` spans from the worker's tool interceptor, inside the run's trace."""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from activities.tools.calculator import CalculatorInput
from common.settings import Settings
from tests.observability.conftest import trace_of, traced
from tests.observability.tool_probe import ToolProbe
from worker.app import build_worker


async def _run(client: Client, settings: Settings, expressions: list[str]) -> str:
    client = traced(client, settings)
    workflow_id = f"tool-probe-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, settings, workflows=[ToolProbe]):
        await client.execute_workflow(
            ToolProbe.run,
            [CalculatorInput(expression=e) for e in expressions],
            id=workflow_id,
            task_queue=settings.temporal_task_queue,
        )
    return workflow_id


async def test_tool_steps_are_spans_with_error_type(
    ts_client: Client, settings: Settings, span_exporter: InMemorySpanExporter
) -> None:
    workflow_id = await _run(ts_client, settings, ["6 * 7", "1 / 0"])
    spans = trace_of(span_exporter.get_finished_spans(), "StartWorkflow:ToolProbe", workflow_id)
    tools = sorted((s for s in spans if s.name == "execute_tool calculator"), key=lambda s: s.start_time or 0)
    assert len(tools) == 2
    for span in tools:
        parent = next(s for s in spans if span.parent and s.context.span_id == span.parent.span_id)
        assert parent.name == "RunActivity:tool.calculator"
        attributes = span.attributes or {}
        assert attributes["gen_ai.operation.name"] == "execute_tool"
        assert attributes["gen_ai.tool.name"] == "calculator"
        assert attributes["ai_workflows.tool.side_effect"] is False
        assert "gen_ai.tool.call.arguments" not in attributes
    assert "error.type" not in (tools[0].attributes or {})
    assert (tools[1].attributes or {})["error.type"] == "tool_error"
    assert not tools[1].status.is_ok


async def test_tool_arguments_and_results_only_with_capture(
    ts_client: Client, settings: Settings, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    workflow_id = await _run(ts_client, settings, ["6 * 7"])
    spans = trace_of(span_exporter.get_finished_spans(), "StartWorkflow:ToolProbe", workflow_id)
    (tool,) = [s for s in spans if s.name == "execute_tool calculator"]
    attributes = tool.attributes or {}
    assert "6 * 7" in str(attributes["gen_ai.tool.call.arguments"])
    assert '"42"' in str(attributes["gen_ai.tool.call.result"])
