"""Replay must not duplicate spans: with no workflow cache every workflow task replays the run from
its first event, so any span made by workflow code would be made again on each task."""

from __future__ import annotations

import uuid
from collections import Counter

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.worker import Worker

from activities.tool_tracing import ToolTracingInterceptor
from common.settings import Settings
from common.workflow_spans import APPROVAL_SPAN
from starter import api
from tests.observability.approval_probe import ApprovalSpanProbe
from tests.observability.conftest import trace_of, traced
from worker.app import build_activities
from workflows.models import ResearchInput
from workflows.registry import WORKFLOWS


def _uncached_worker(client: Client, settings: Settings, workflows: list[type]) -> Worker:
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=workflows,
        activities=build_activities(settings),
        interceptors=[ToolTracingInterceptor()],
        max_cached_workflows=0,  # every workflow task replays the history from the start
    )


async def test_uncached_research_run_has_each_span_once(
    ts_client: Client, settings: Settings, span_exporter: InMemorySpanExporter
) -> None:
    client = traced(ts_client, settings)
    async with _uncached_worker(client, settings, WORKFLOWS):
        handle = await api.start_research(
            client, ResearchInput(topic="fjords", max_subtopics=2), task_queue=settings.temporal_task_queue
        )
        result = await handle.result()
    spans = trace_of(span_exporter.get_finished_spans(), "StartWorkflow:ResearchWorkflow", handle.id)
    names = Counter(s.name for s in spans)
    llm_steps = sum(1 for s in result.steps if s.kind == "llm")
    assert names["RunWorkflow:ResearchWorkflow"] == 1
    assert names["StartActivity:llm.complete"] == llm_steps
    assert names["RunActivity:llm.complete"] == llm_steps
    assert names["chat offline-model"] == llm_steps
    assert len({s.context.span_id for s in spans}) == len(spans)


async def test_approval_wait_is_one_span_across_replays(
    ts_client: Client, settings: Settings, span_exporter: InMemorySpanExporter
) -> None:
    client = traced(ts_client, settings)
    async with _uncached_worker(client, settings, [ApprovalSpanProbe]):
        handle = await client.start_workflow(
            ApprovalSpanProbe.run, id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=settings.temporal_task_queue
        )
        await handle.signal(ApprovalSpanProbe.approve, "ana")
        assert await handle.result() == "ana"
    spans = trace_of(span_exporter.get_finished_spans(), "StartWorkflow:ApprovalSpanProbe", handle.id)
    waits = [s for s in spans if s.name == APPROVAL_SPAN]
    (run,) = [s for s in spans if s.name == "RunWorkflow:ApprovalSpanProbe"]
    assert len(waits) == 1
    wait = waits[0]
    assert wait.parent is not None and wait.parent.span_id == run.context.span_id
    attributes = dict(wait.attributes or {})
    assert attributes["ai_workflows.approval.outcome"] == "approved"
    assert attributes["ai_workflows.approval.approver"] == "ana"
    assert attributes["ai_workflows.approval.via"] == "signal"
    assert attributes["ai_workflows.approval.approvers"] == ("ana", "bo")
    assert "ai_workflows.approval.action" not in attributes  # action text only with content capture
    assert wait.start_time is not None and wait.end_time is not None and wait.end_time >= wait.start_time
