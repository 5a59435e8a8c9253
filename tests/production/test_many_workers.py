"""Many workers, one task queue: three real `python -m worker` processes share the runs; one of them
is SIGKILLed while runs are in flight (no graceful shutdown, no goodbye to the server), and every run
still completes on the other two."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from starter import api
from workflows.models import ResearchInput
from workflows.research import ResearchWorkflow

WORKERS = 3
RUNS = 8
SUBTOPICS = 4
READY_LINE = "worker running"


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    output: list[str] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None

    @property
    def identity(self) -> str:
        """The SDK's default worker identity, `pid@host`: how history names who did a task."""
        return f"{self.process.pid}@"


async def start_worker(env: dict[str, str]) -> WorkerProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "worker", env=env, stderr=asyncio.subprocess.PIPE
    )
    worker = WorkerProcess(process)
    assert process.stderr is not None
    # Read the log until the worker polls; then keep draining it so the pipe never fills.
    while READY_LINE not in "".join(worker.output[-3:]):
        line = await asyncio.wait_for(process.stderr.readline(), timeout=60)
        assert line, "worker exited before polling:\n" + "".join(worker.output)
        worker.output.append(line.decode())

    async def drain() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            worker.output.append(line.decode())

    worker.drain = asyncio.create_task(drain())
    return worker


@pytest.fixture
async def three_workers(
    dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[list[WorkerProcess]]:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "LLM_PROVIDER": "offline",
        "WORKER_GRACEFUL_SHUTDOWN_S": "5",
    }
    for name in ("PAYLOAD_KEYS", "TEMPORAL_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(name, None)
    workers = list(await asyncio.gather(*(start_worker(env) for _ in range(WORKERS))))
    try:
        yield workers
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
            await worker.process.wait()
            if worker.drain:
                worker.drain.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.drain


async def first_activity_worker(handle: WorkflowHandle) -> str:
    """Waits (long-polling the history, no sleeping) until the run completed an LLM step, and returns
    the identity of the worker that ran it."""
    started_by: dict[int, str] = {}
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started_by[event.event_id] = event.activity_task_started_event_attributes.identity
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            return started_by[event.activity_task_completed_event_attributes.started_event_id]
    raise AssertionError("the run closed without completing an activity")


async def identities(client: Client, workflow_id: str) -> list[str]:
    """Worker identities in history order (workflow and activity tasks)."""
    found = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            found.append(event.workflow_task_started_event_attributes.identity)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            found.append(event.activity_task_started_event_attributes.identity)
    return found


@pytest.mark.chaos
async def test_sigkill_one_of_three_workers_mid_run_and_every_run_completes(
    dev_client: Client, three_workers: list[WorkerProcess], task_queue: str
) -> None:
    # A dead worker's workflow task is retried after the run's workflow task timeout (10 s by default;
    # 2 s here so the test does not idle). Its in-flight LLM steps are retried after their heartbeat
    # timeout (1 s, workflows/activity_options.py).
    handles = await asyncio.gather(
        *(
            dev_client.start_workflow(
                ResearchWorkflow.run,
                ResearchInput(topic=f"lighthouse keeping {i}", max_subtopics=SUBTOPICS),
                id=api.new_workflow_id("research"),
                task_queue=task_queue,
                task_timeout=timedelta(seconds=2),
            )
            for i in range(RUNS)
        )
    )

    # Evidence that runs are in progress: the first run has completed a step. Kill the worker that
    # ran it: that worker also holds the run in its sticky cache.
    busy_identity = await first_activity_worker(handles[0])
    [victim] = [w for w in three_workers if busy_identity.startswith(w.identity)]
    victim.process.send_signal(signal.SIGKILL)
    await victim.process.wait()
    statuses = await asyncio.gather(*(h.describe() for h in handles))
    in_flight = [
        h for h, d in zip(handles, statuses, strict=True) if d.status == WorkflowExecutionStatus.RUNNING
    ]
    assert in_flight, "every run finished before the kill: the test proved nothing"

    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=120)
    for i, result in enumerate(results):
        assert result.topic == f"lighthouse keeping {i}"
        assert len(result.subtopics) == SUBTOPICS and "[offline model]" in result.report

    # Runs the victim had worked on were finished by the survivors.
    survivors = [w for w in three_workers if w is not victim]
    taken_over = 0
    for handle in in_flight:
        names = await identities(dev_client, handle.id)
        if any(n.startswith(victim.identity) for n in names):
            assert any(n.startswith(s.identity) for n in names for s in survivors)
            taken_over += 1
    assert taken_over >= 1

    for worker in survivors:
        worker.process.send_signal(signal.SIGTERM)
    codes = await asyncio.wait_for(asyncio.gather(*(w.process.wait() for w in survivors)), timeout=60)
    assert codes == [0] * len(survivors), [w.output[-5:] for w in survivors]
