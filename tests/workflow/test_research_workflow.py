"""ResearchWorkflow on the time-skipping server: delivery with its idempotency key, partial and total
subtopic failure, the concurrency bound, the budget, deep research with child agents rolled up."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from common.search_attributes import COST_USD, PHASE
from common.settings import Settings
from tests.workflow.doubles import FailingResearchModel, Recorder, offline_llm
from tests.workflow.support import worker_with
from workflows.agent import AgentWorkflow
from workflows.models import AgentResult, ResearchInput, ResearchResult, WorkflowStatus
from workflows.research import ResearchWorkflow


async def run_research(
    client: Client, settings: Settings, task_queue: str, params: ResearchInput, activities: list
) -> tuple[str, ResearchResult]:
    async with worker_with(client, settings, activities):
        handle = await client.start_workflow(
            ResearchWorkflow.run, params, id=f"research-{uuid.uuid4().hex}", task_queue=task_queue
        )
        return handle.id, await handle.result()


async def test_report_is_delivered_once_with_the_run_key(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    params = ResearchInput(topic="tide pools", max_subtopics=3, deliver_to="https://hooks.example/in")
    workflow_id, result = await run_research(
        ts_client, settings, task_queue, params, [offline_llm().complete, *recorder.activities()]
    )
    [delivery] = recorder.deliveries
    first_run = (await ts_client.get_workflow_handle(workflow_id).describe()).run_id
    assert delivery.idempotency_key == f"{workflow_id}/{first_run}/deliver"
    assert delivery.target == "https://hooks.example/in" and delivery.body == result.report
    assert delivery.data["workflow_id"] == workflow_id and delivery.data["subtopics"] == result.subtopics
    assert result.outcome == "completed" and result.delivery is not None
    assert result.delivery.channel == "webhook"
    assert len(result.sources) == 3 and all("offline-model" in s for s in result.sources)
    assert [s.step for s in result.steps][-1] == "deliver"
    assert result.cost_usd == pytest.approx(sum(s.cost_usd for s in result.steps))

    handle = ts_client.get_workflow_handle(workflow_id)
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(PHASE) == "completed"
    assert attributes.get(COST_USD) == pytest.approx(result.cost_usd, abs=1e-6)
    # Every activity call carries a summary a person can read in the Web UI.
    summaries = [
        json.loads(e.user_metadata.summary.data)
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert summaries[0].startswith("plan: tide pools")
    assert sorted(s.split(":")[0] for s in summaries[1:4]) == ["research 1", "research 2", "research 3"]
    assert summaries[-2].startswith("synthesize: tide pools") and summaries[-1] == "deliver webhook"


async def test_invalid_delivery_target_fails_before_anything_runs(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    params = ResearchInput(topic="tide pools", deliver_to="ftp://files.example/drop")
    with pytest.raises(WorkflowFailureError) as failure:
        await run_research(
            ts_client, settings, task_queue, params, [offline_llm().complete, *recorder.activities()]
        )
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.non_retryable
    assert "not supported" in cause.message


async def test_a_failed_subtopic_is_reported_not_fatal(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    model = FailingResearchModel(fail_on=["Current state of"])
    params = ResearchInput(topic="tide pools", max_subtopics=3)
    _, result = await run_research(ts_client, settings, task_queue, params, [model.complete])
    assert result.failed_subtopics == ["Current state of tide pools"]
    assert result.outcome == "completed"
    assert "Current state of" not in result.report and "Background and definitions" in result.report
    assert [s.step for s in result.steps if s.kind == "llm"].count("synthesize") == 1


async def test_the_run_fails_when_every_subtopic_fails(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    model = FailingResearchModel(fail_on=["tide pools"])
    params = ResearchInput(topic="tide pools", max_subtopics=2)
    with pytest.raises(WorkflowFailureError) as failure:
        await run_research(ts_client, settings, task_queue, params, [model.complete])
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "AllSubtopicsFailed"
    assert "all 2 subtopics failed" in cause.message


async def test_at_most_max_parallel_subtopics_run_at_once(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    model = FailingResearchModel(fail_on=[], research_delay_s=0.05)
    params = ResearchInput(topic="tide pools", max_subtopics=6, max_parallel=2)
    _, result = await run_research(ts_client, settings, task_queue, params, [model.complete])
    assert len(result.subtopics) == 6 and not result.failed_subtopics
    assert model.max_in_flight <= 2


async def test_budget_stops_the_fan_out_and_skips_synthesis(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    base = ResearchInput(topic="tide pools", max_subtopics=4, max_parallel=1)
    # The offline model is deterministic: a run without a budget tells what each step costs.
    _, reference = await run_research(ts_client, settings, task_queue, base, [offline_llm().complete])
    cost = {s.step: s.cost_usd for s in reference.steps}
    budget = cost["plan"] + cost["research 1"] + cost["research 2"] / 2
    limited = base.model_copy(update={"budget_usd": budget})
    _, result = await run_research(ts_client, settings, task_queue, limited, [offline_llm().complete])

    assert result.outcome == "budget_exhausted"
    assert [s.step for s in result.steps] == ["plan", "research 1", "research 2"]
    assert result.skipped_subtopics == reference.subtopics[2:]
    assert "synthesis skipped" in result.report and reference.subtopics[1] in result.report


async def test_deep_research_rolls_child_agents_up(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    params = ResearchInput(topic="tide pools", max_subtopics=2, depth="deep")
    async with worker_with(ts_client, settings, [offline_llm().complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            ResearchWorkflow.run, params, id=f"research-{uuid.uuid4().hex}", task_queue=task_queue
        )
        result = await handle.result()
        status: WorkflowStatus = await handle.query(ResearchWorkflow.status)
        children: list[AgentResult] = [
            await ts_client.get_workflow_handle_for(AgentWorkflow.run, f"{handle.id}/research-{n}").result()
            for n in (1, 2)
        ]

        child_memo = await (await ts_client.get_workflow_handle(f"{handle.id}/research-1").describe()).memo()

    assert all(child.outcome == "completed" and child.iterations >= 2 for child in children)
    assert child_memo["started_by"] == handle.id and result.subtopics[0] in child_memo["input"]["goal"]
    assert len(recorder.searches) == 2  # each child used its read-only tool
    # In the order the children finished, which is any order: match them by step name.
    child_steps = sorted((s for s in result.steps if s.kind == "child"), key=lambda s: s.step)
    assert [s.step for s in child_steps] == ["research 1 (agent)", "research 2 (agent)"]
    assert [s.cost_usd for s in child_steps] == [c.cost_usd for c in children]
    assert [s.output_tokens for s in child_steps] == [c.usage.output_tokens for c in children]
    own = sum(s.cost_usd for s in result.steps if s.kind == "llm")
    assert result.cost_usd == pytest.approx(own + sum(c.cost_usd for c in children))
    assert status.cost_usd == pytest.approx(result.cost_usd)
    assert result.usage.input_tokens == sum(s.input_tokens for s in result.steps)
    assert sorted(result.sources) == sorted(s for c in children for s in c.sources)
    assert all(s.startswith("search_docs(") for s in result.sources)


async def test_deep_research_budget_counts_the_children(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    base = ResearchInput(topic="tide pools", max_subtopics=2, depth="deep")
    _, reference = await run_research(
        ts_client, settings, task_queue, base, [offline_llm().complete, *recorder.activities()]
    )
    plan_cost = reference.steps[0].cost_usd
    # Enough for the plan and about one model step per child: the children stop on their share.
    budget = plan_cost * 2
    workflow_id, result = await run_research(
        ts_client,
        settings,
        task_queue,
        base.model_copy(update={"budget_usd": budget}),
        [offline_llm().complete, *recorder.activities()],
    )
    assert result.outcome == "budget_exhausted" and "synthesis skipped" in result.report
    assert all("budget_exhausted" in s.detail for s in result.steps if s.kind == "child")
    assert result.cost_usd < reference.cost_usd
    # The children reported their totals while they ran (what `status` shows before they end).
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        async for e in ts_client.get_workflow_handle(workflow_id).fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert signals.count("child_progress") >= 2


async def test_research_input_that_does_not_validate_fails_the_run(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    async with worker_with(ts_client, settings, [offline_llm().complete]):
        with pytest.raises(WorkflowFailureError) as failure:
            await ts_client.execute_workflow(
                "ResearchWorkflow",
                {"topic": "tide pools", "depth": "bottomless"},
                id=f"research-{uuid.uuid4().hex}",
                task_queue=task_queue,
                execution_timeout=timedelta(minutes=1),  # a task-retry loop would end here instead
            )
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ValidationError"
    assert "depth" in cause.message
