"""MCP calls are `execute_tool {server}__{tool}` spans (GenAI tool attributes) in the run's trace, and
steps of the run's status, like built-in tools."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from activities.llm.models import ContentBlock, ToolUseBlock
from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Reply
from tests.mcp.support import start_agent, stdio_server, with_servers
from tests.observability.conftest import trace_of, traced
from worker.app import build_worker
from workflows.models import AgentInput, WorkflowStatus


async def test_mcp_calls_are_tool_spans_and_status_steps(
    dev_client: Client,
    anthropic_settings: Settings,
    anthropic_server: AnthropicServer,
    tmp_path: Path,
    span_exporter: InMemorySpanExporter,
) -> None:
    settings = with_servers(anthropic_settings, tmp_path, {"weather": stdio_server(tmp_path / "calls.jsonl")})
    client = traced(dev_client, settings)
    both: list[ContentBlock] = [
        ToolUseBlock(id="a", name="weather__lookup", input={"city": "Oslo"}),
        ToolUseBlock(id="b", name="weather__broken", input={"reason": "test"}),
    ]
    anthropic_server.script(Reply(content=both, stop_reason="tool_use"), step="llm step 1")
    anthropic_server.script(Reply.text("Done.", stop_reason="end_turn"), step="llm step 2")
    async with build_worker(client, settings):
        handle = await start_agent(
            client,
            settings.temporal_task_queue,
            AgentInput(goal="g", tools=["weather__lookup", "weather__broken"]),
        )
        await handle.result()
        status = await handle.query("status", result_type=WorkflowStatus)
    spans = trace_of(span_exporter.get_finished_spans(), "StartWorkflow:AgentWorkflow", handle.id)
    by_name = {s.name: s for s in spans if s.name.startswith("execute_tool ")}
    assert sorted(by_name) == ["execute_tool weather__broken", "execute_tool weather__lookup"]
    for span in by_name.values():
        parent = next(s for s in spans if span.parent and s.context.span_id == span.parent.span_id)
        assert parent.name == "RunActivity:mcp.call_tool"
        attributes = span.attributes or {}
        assert attributes["gen_ai.operation.name"] == "execute_tool"
        assert attributes["gen_ai.tool.type"] == "extension"
        assert attributes["ai_workflows.tool.side_effect"] is False
        assert attributes["gen_ai.conversation.id"] == handle.id
    assert "error.type" not in (by_name["execute_tool weather__lookup"].attributes or {})
    assert (by_name["execute_tool weather__broken"].attributes or {})["error.type"] == "tool_error"
    # Concurrent calls: recorded in the order they finished.
    steps = sorted((s.step, s.ok) for s in status.completed_steps if s.kind == "tool")
    assert steps == [("tool 1.1 weather__lookup", True), ("tool 1.2 weather__broken", False)]
