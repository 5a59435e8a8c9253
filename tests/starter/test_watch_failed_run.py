"""A watched run that fails: the watcher's stream shows the failed step and ends with the run's
status (the stream's pending poll does not keep the watcher waiting on a closed run)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from common.settings import Settings
from starter import api
from starter.watch import PhaseChanged, ProgressEvent, RunEnded, StepCompleted, watch
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Fail, Stall
from worker.app import build_worker
from workflows.models import ResearchInput


async def test_a_failed_run_ends_its_watch_with_its_status(
    dev_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer, task_queue: str
) -> None:
    # The plan step holds until the watcher follows the run's stream; synthesis then fails for good.
    anthropic_server.script(Stall(after_events=2), step="plan")
    anthropic_server.script(Fail(400, "invalid_request_error", "prompt is too long"), step="synthesize")
    events: list[ProgressEvent] = []
    following = asyncio.Event()

    async def follow(workflow_id: str) -> None:
        async for event in watch(dev_client, workflow_id, poll_interval_s=60):  # a poll would stall it
            events.append(event)
            following.set()

    async with build_worker(dev_client, anthropic_settings):
        handle = await api.start_research(
            dev_client, ResearchInput(topic="estuaries", max_subtopics=2), task_queue=task_queue
        )
        try:
            assert await asyncio.to_thread(anthropic_server.wait_until_stalled, 30.0)
            watcher = asyncio.create_task(follow(handle.id))
            await asyncio.wait_for(following.wait(), 30)
        finally:
            anthropic_server.release()
        await asyncio.wait_for(watcher, 60)
    assert events[0] == PhaseChanged(phase="planning")
    assert events[-1] == RunEnded(status="FAILED")
    [last_step] = [e.step for e in events if isinstance(e, StepCompleted)][-1:]
    assert (last_step.step, last_step.ok) == ("synthesize", False)
