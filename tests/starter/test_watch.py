"""`starter.watch`: the same progress events from a run's Workflow Stream and, for runs without one,
from the polled `status` query; always ending with `RunEnded`."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client

from common.settings import Settings
from starter import api
from starter.watch import PhaseChanged, RunEnded, StepCompleted, watch
from tests.starter.progress_workflow import ProgressInput, ProgressProbeWorkflow
from tests.starter.runs import update_events
from worker.app import build_worker
from workflows.models import ResearchInput


async def test_watch_follows_the_workflow_stream(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    workflow_id = f"progress-{uuid.uuid4().hex[:8]}"
    async with build_worker(ts_client, settings, workflows=[ProgressProbeWorkflow]):
        handle = await ts_client.start_workflow(
            ProgressProbeWorkflow.run, ProgressInput(steps=2), id=workflow_id, task_queue=task_queue
        )
        events = []
        async for event in watch(ts_client, workflow_id):
            events.append(event)
            if isinstance(event, PhaseChanged) and event.phase == "awaiting_approval":
                # The stream says which phase; the watcher adds what waits for a decision.
                assert event.pending_approval is not None
                assert event.pending_approval.action == "send the report"
                await handle.signal(ProgressProbeWorkflow.proceed)
    assert [type(e).__name__ for e in events] == [
        "PhaseChanged",
        "StepCompleted",
        "StepCompleted",
        "PhaseChanged",
        "StepCompleted",
        "PhaseChanged",
        "RunEnded",
    ]
    steps = [e.step for e in events if isinstance(e, StepCompleted)]
    assert [(s.step, s.input_tokens) for s in steps] == [("step 1", 10), ("step 2", 20), ("deliver", 0)]
    assert [e.phase for e in events if isinstance(e, PhaseChanged)] == [
        "running",
        "awaiting_approval",
        "completed",
    ]
    assert events[-1] == RunEnded(status="COMPLETED")


async def test_watch_polls_status_when_the_run_has_no_stream(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    workflow_id = f"progress-{uuid.uuid4().hex[:8]}"
    async with build_worker(ts_client, settings, workflows=[ProgressProbeWorkflow]):
        handle = await ts_client.start_workflow(
            ProgressProbeWorkflow.run,
            ProgressInput(steps=2, stream=False),
            id=workflow_id,
            task_queue=task_queue,
        )
        events = []
        async for event in watch(ts_client, workflow_id, poll_interval_s=0.05):
            events.append(event)
            if isinstance(event, PhaseChanged) and event.phase == "awaiting_approval":
                assert event.pending_approval is not None
                await handle.signal(ProgressProbeWorkflow.proceed)
    steps = [e.step.step for e in events if isinstance(e, StepCompleted)]
    # Every step exactly once, whatever moment each poll saw.
    assert steps == ["step 1", "step 2", "deliver"]
    # Steps before the phase they led to: the run's last phase comes after its last step.
    assert events[-2] == PhaseChanged(phase="completed")
    assert events[-1] == RunEnded(status="COMPLETED")
    assert await update_events(ts_client, workflow_id) == 0  # polled by query: no stream, no Update


async def test_watch_of_a_finished_run_replays_its_steps_and_ends(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    async with build_worker(ts_client, settings):
        handle = await api.start_research(
            ts_client, ResearchInput(topic="kelp", max_subtopics=1), task_queue=task_queue
        )
        result = await handle.result()
        events = [event async for event in watch(ts_client, handle.id)]
    assert [e.step.step for e in events if isinstance(e, StepCompleted)] == [s.step for s in result.steps]
    assert events[-1] == RunEnded(status="COMPLETED")


async def test_watch_of_unknown_id_is_a_starter_error(ts_client: Client) -> None:
    with pytest.raises(api.StarterError, match="no workflow with id 'nope-"):
        async for _ in watch(ts_client, f"nope-{uuid.uuid4().hex[:8]}"):
            pass
