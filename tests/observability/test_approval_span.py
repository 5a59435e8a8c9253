"""The approval gate of a real research run is one `await_approval` span in the run's trace, under
the workflow's run span, carrying the decision (who, how, outcome) and the hash of what was proposed;
the workflow time it spans is the wait the run had."""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from common.settings import Settings
from common.workflow_spans import APPROVAL_SPAN
from starter import api
from tests.observability.conftest import trace_of, traced
from tests.starter.runs import pending_approval
from worker.app import build_worker
from workflows.models import ResearchInput, ResearchResult


async def test_research_approval_wait_is_a_span_with_the_decision(
    ts_client: Client, settings: Settings, span_exporter: InMemorySpanExporter
) -> None:
    client = traced(ts_client, settings)
    async with build_worker(client, settings):
        handle = await api.start_research(
            client,
            ResearchInput(
                topic=f"estuaries {uuid.uuid4().hex[:6]}", max_subtopics=1, approvers=["ana", "bo"]
            ),
            task_queue=settings.temporal_task_queue,
        )
        pending = await pending_approval(client, handle.id)
        await api.approve(client, handle.id, "bo", "fine", approved=False)
        result = await handle.result()
    assert isinstance(result, ResearchResult) and result.outcome == "rejected"

    spans = trace_of(span_exporter.get_finished_spans(), "StartWorkflow:ResearchWorkflow", handle.id)
    (run,) = [s for s in spans if s.name == "RunWorkflow:ResearchWorkflow"]
    (wait,) = [s for s in spans if s.name == APPROVAL_SPAN]
    assert wait.parent is not None and wait.parent.span_id == run.context.span_id
    attributes = dict(wait.attributes or {})
    assert attributes["ai_workflows.approval.outcome"] == "rejected"
    assert attributes["ai_workflows.approval.approver"] == "bo"
    assert attributes["ai_workflows.approval.via"] == "update"
    assert attributes["ai_workflows.approval.approvers"] == ("ana", "bo")
    assert attributes["ai_workflows.approval.action_hash"] == pending.action_hash
    assert attributes["ai_workflows.approval.deadline"] == pending.deadline.isoformat()
    assert result.approval is not None
    # Workflow time at both ends (to the microsecond: datetimes carry no more).
    assert wait.start_time is not None and wait.end_time is not None
    assert wait.start_time // 1000 == round(pending.requested_at.timestamp() * 1e6)
    assert wait.end_time // 1000 == round(result.approval.decided_at.timestamp() * 1e6)
