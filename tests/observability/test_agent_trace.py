"""One trace per agent run: every ReAct turn's LLM span and every tool span under the run's
workflow span, with the GenAI attributes the workflow's own step records agree with."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from common.settings import Settings
from starter import api
from tests.observability.conftest import trace_of, traced
from worker.app import build_worker
from workflows.models import AgentInput


def _chain(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    by_id = {s.context.span_id: s for s in spans}
    names = [span.name]
    while span.parent is not None:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_agent_run_is_one_trace_with_llm_and_tool_spans(
    ts_client: Client, settings: Settings, span_exporter: InMemorySpanExporter
) -> None:
    client = traced(ts_client, settings)
    async with build_worker(client, settings):
        handle = await api.start_agent(
            client,
            AgentInput(goal="What is 17 * 23?", tools=["calculator"], max_iterations=4),
            task_queue=settings.temporal_task_queue,
        )
        result = await handle.result()
    assert result.outcome == "completed" and "391" in result.answer
    spans = trace_of(span_exporter.get_finished_spans(), "StartWorkflow:AgentWorkflow", handle.id)

    chats = [s for s in spans if s.name == "chat offline-model"]
    tools = [s for s in spans if s.name == "execute_tool calculator"]
    llm_steps = [s for s in result.steps if s.kind == "llm"]
    tool_steps = [s for s in result.steps if s.kind == "tool"]
    assert len(chats) == len(llm_steps) == result.iterations >= 2
    assert len(tools) == len(tool_steps) >= 1
    for chat in chats:
        assert _chain(chat, spans) == [
            "chat offline-model",
            "RunActivity:llm.complete",
            "StartActivity:llm.complete",
            "RunWorkflow:AgentWorkflow",
            "StartWorkflow:AgentWorkflow",
        ]
    for tool in tools:
        assert _chain(tool, spans)[1:] == [
            "RunActivity:tool.calculator",
            "StartActivity:tool.calculator",
            "RunWorkflow:AgentWorkflow",
            "StartWorkflow:AgentWorkflow",
        ]

    # The agent's turn number is the span's iteration; its numbers are the step record's.
    by_iteration = {
        int(str((c.attributes or {})["ai_workflows.iteration"])): c.attributes or {} for c in chats
    }
    assert sorted(by_iteration) == list(range(1, result.iterations + 1))
    for number, step in enumerate(llm_steps, start=1):
        attributes = by_iteration[number]
        assert attributes["ai_workflows.step.kind"] == "agent"
        assert attributes["gen_ai.usage.input_tokens"] == (
            step.input_tokens + step.cache_read_tokens + step.cache_write_tokens
        )
        assert attributes["gen_ai.usage.output_tokens"] == step.output_tokens
        assert attributes["ai_workflows.cost_usd"] == step.cost_usd
    assert by_iteration[1]["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert by_iteration[result.iterations]["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert all((t.attributes or {}).get("gen_ai.conversation.id") == handle.id for t in tools)
