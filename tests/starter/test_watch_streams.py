"""`starter.watch` over the product's own workflows, which host a Workflow Stream: every phase and
step arrives once and in order (across continue-as-new too), through the stream (its poll Updates
are in the history); and a run nobody watches has no stream traffic in its history at all."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from common.settings import Settings
from starter import api
from starter.watch import PhaseChanged, RunEnded, StepCompleted, watch
from tests.starter.runs import update_events
from worker.app import build_worker
from workflows.models import AgentInput, AgentResult, ResearchInput, ResearchResult


async def test_watch_follows_a_research_run_through_its_stream(
    dev_client: Client, settings: Settings, task_queue: str
) -> None:
    # The dev server: the stream client describes the run, and the time-skipping server returns the
    # cleared AiApprovalDeadline in a form the SDK cannot decode.
    async with build_worker(dev_client, settings):
        handle = await api.start_research(
            dev_client,
            ResearchInput(topic="estuaries", max_subtopics=2, approvers=["ana"]),
            task_queue=task_queue,
        )
        events = []
        async for event in watch(dev_client, handle.id, poll_interval_s=60):  # a poll would stall the test
            events.append(event)
            if isinstance(event, PhaseChanged) and event.phase == "awaiting_approval":
                assert event.pending_approval is not None and event.pending_approval.approvers == ["ana"]
                await api.approve(dev_client, handle.id, "ana")
        result = await handle.result()
    assert isinstance(result, ResearchResult)
    assert [e.step for e in events if isinstance(e, StepCompleted)] == result.steps
    assert [e.phase for e in events if isinstance(e, PhaseChanged)] == [
        "planning",
        "researching",
        "synthesizing",
        "awaiting_approval",
        "synthesizing",
        "completed",
    ]
    assert events[-1] == RunEnded(status="COMPLETED")
    # Through the stream: its long polls are Updates in the history (besides the one `approve`).
    assert await update_events(dev_client, handle.id, "approve") == 1
    assert await update_events(dev_client, handle.id, "__temporal_workflow_stream_poll") >= 1


async def test_watch_follows_an_agent_across_continue_as_new(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    async with build_worker(ts_client, settings):
        handle = await api.start_agent(
            ts_client,
            AgentInput(goal="What is 6 * 7?", tools=["calculator"], continue_as_new_after_iterations=1),
            task_queue=task_queue,
        )
        events = [event async for event in watch(ts_client, handle.id, poll_interval_s=60)]
        result = await handle.result()
    assert isinstance(result, AgentResult) and result.runs == 2
    assert [e.step for e in events if isinstance(e, StepCompleted)] == result.steps  # none twice
    assert [e.phase for e in events if isinstance(e, PhaseChanged)][-1] == "completed"
    assert events[-1] == RunEnded(status="COMPLETED")


async def test_an_unwatched_run_has_no_stream_events(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    async with build_worker(ts_client, settings):
        handle = await api.start_research(
            ts_client, ResearchInput(topic="estuaries", max_subtopics=3), task_queue=task_queue
        )
        await handle.result()
    history = await handle.fetch_history()
    kinds = {event.event_type for event in history.events}
    assert await update_events(ts_client, handle.id) == 0
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED not in kinds
    # Per step only the activity's own events and the search-attribute upsert of the new cost.
    activities = sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in history.events)
    assert activities == 5  # plan, 3 research steps, synthesize
