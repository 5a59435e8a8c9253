"""One trace per research run, through the real OpenTelemetry SDK and Temporal's tracing plugin: the
span tree, the GenAI attributes compared with the workflow's own step records, content capture."""

from __future__ import annotations

import json
import uuid

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client

from common.settings import Settings
from starter import api
from tests.observability.conftest import trace_of, traced
from worker.app import build_worker
from workflows.models import ResearchInput, ResearchResult


async def _research(
    client: Client, settings: Settings, topic: str, subtopics: int
) -> tuple[str, ResearchResult]:
    client = traced(client, settings)
    async with build_worker(client, settings):
        handle = await api.start_research(
            client,
            ResearchInput(topic=topic, max_subtopics=subtopics),
            task_queue=settings.temporal_task_queue,
        )
        return handle.id, await handle.result()


def _parent(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    matches = [s for s in spans if s.context.span_id == span.parent.span_id]
    assert len(matches) == 1, f"parent of {span.name} is not in the trace"
    return matches[0]


def _all_attribute_text(spans: list[ReadableSpan]) -> str:
    parts = []
    for span in spans:
        parts += [str(v) for v in (span.attributes or {}).values()]
        parts += [str(v) for event in span.events for v in (event.attributes or {}).values()]
    return "\n".join(parts)


async def test_research_run_is_one_trace_with_genai_spans(
    ts_client: Client, settings: Settings, span_exporter: InMemorySpanExporter
) -> None:
    topic = f"kelp forests {uuid.uuid4().hex[:8]}"
    workflow_id, result = await _research(ts_client, settings, topic, subtopics=3)
    spans = trace_of(span_exporter.get_finished_spans(), "StartWorkflow:ResearchWorkflow", workflow_id)

    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    root = by_name["StartWorkflow:ResearchWorkflow"][0]
    (run,) = by_name["RunWorkflow:ResearchWorkflow"]
    assert _parent(run, spans) is root

    llm_steps = [s for s in result.steps if s.kind == "llm"]
    chats = by_name["chat offline-model"]
    assert len(chats) == len(llm_steps) == 5  # plan, 3 research steps, synthesize
    for chat in chats:
        run_activity = _parent(chat, spans)
        assert run_activity.name == "RunActivity:llm.complete"
        start_activity = _parent(run_activity, spans)
        assert start_activity.name == "StartActivity:llm.complete"
        assert _parent(start_activity, spans) is run
        assert chat.kind is SpanKind.CLIENT

    # Each LLM span carries exactly the numbers the workflow recorded for that step.
    by_step = {str((c.attributes or {})["ai_workflows.step"]): c.attributes or {} for c in chats}
    assert set(by_step) == {s.step for s in llm_steps}
    for step in llm_steps:
        attributes = by_step[step.step]
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "offline"
        assert attributes["gen_ai.request.model"] == "offline-model"
        assert attributes["gen_ai.response.model"] == step.model
        assert attributes["gen_ai.usage.input_tokens"] == (
            step.input_tokens + step.cache_read_tokens + step.cache_write_tokens
        )
        assert attributes["gen_ai.usage.output_tokens"] == step.output_tokens
        assert attributes["gen_ai.usage.cache_read.input_tokens"] == step.cache_read_tokens
        assert attributes["gen_ai.usage.cache_creation.input_tokens"] == step.cache_write_tokens
        assert attributes["ai_workflows.cost_usd"] == step.cost_usd
        assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
        assert attributes["gen_ai.conversation.id"] == workflow_id
        assert "error.type" not in attributes
    assert by_step["research 2"]["ai_workflows.iteration"] == 2
    assert "ai_workflows.iteration" not in by_step["plan"]

    # Prompts and completions stay out of the trace by default.
    text = _all_attribute_text(spans)
    assert topic not in text
    assert "gen_ai.input.messages" not in {k for c in chats for k in (c.attributes or {})}


async def test_content_capture_puts_prompts_and_completions_in_spans(
    ts_client: Client, settings: Settings, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    topic = f"salt marshes {uuid.uuid4().hex[:8]}"
    workflow_id, result = await _research(ts_client, settings, topic, subtopics=1)
    spans = trace_of(span_exporter.get_finished_spans(), "StartWorkflow:ResearchWorkflow", workflow_id)
    plan = next(s.attributes or {} for s in spans if (s.attributes or {}).get("ai_workflows.step") == "plan")

    messages = json.loads(str(plan["gen_ai.input.messages"]))
    assert messages[0]["role"] == "user"
    assert messages[0]["parts"][0] == {"type": "text", "content": topic}
    assert "JSON array" in json.loads(str(plan["gen_ai.system_instructions"]))[0]["content"]
    output = json.loads(str(plan["gen_ai.output.messages"]))
    assert output[0]["role"] == "assistant" and output[0]["finish_reason"] == "stop"
    assert result.subtopics[0] in output[0]["parts"][0]["content"]
