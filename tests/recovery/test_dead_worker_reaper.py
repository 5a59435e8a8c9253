"""The lease and the reaper (worker/inflight.py, worker/reaper.py): a lease is free exactly when its
process is gone, a dead worker's open attempts are failed by task token, and a token whose attempt
already closed (a worker that only looked dead) changes nothing."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from tests.recovery.leases import LeaseHolder, append_records, dead_lease
from worker.inflight import InFlightRecord, WorkerLease, journal_runs, read_journal
from worker.reaper import reap_dead_workers


async def test_a_lease_is_reaped_only_once_its_process_is_gone(dev_client: Client, tmp_path: Path) -> None:
    async with LeaseHolder(tmp_path, "not-a-real-token") as holder:
        assert [r.activity_type for r in read_journal(holder.journal)] == ["llm.complete"]  # the open one

        alive = await reap_dead_workers(dev_client, tmp_path)
        assert alive.workers == 0 and holder.journal.exists()

        await holder.kill()
        dead = await reap_dead_workers(dev_client, tmp_path)
    # The open attempt's token is not one the server knows: nothing failed, and the lease is gone.
    assert (dead.workers, dead.attempts_failed, dead.attempts_gone) == (1, 0, 1)
    assert os.listdir(tmp_path) == []


def test_own_lease_is_released_on_a_clean_exit(tmp_path: Path) -> None:
    lease = WorkerLease.acquire(tmp_path)
    lease.forget(lease.record(InFlightRecord(b"t", "wf", "run", "tool.calculator")))
    lease.release()
    assert list(tmp_path.iterdir()) == []


TOKENS: list[bytes] = []


@activity.defn(name="reaper.quick")
async def quick() -> int:
    TOKENS.append(activity.info().task_token)
    return activity.info().attempt


@workflow.defn(name="ReaperProbe", sandboxed=False)
class ReaperProbe:
    @workflow.run
    async def run(self) -> int:
        attempt: int = await workflow.execute_activity(
            quick, start_to_close_timeout=timedelta(seconds=30), heartbeat_timeout=timedelta(seconds=10)
        )
        return attempt


async def test_a_token_of_a_closed_attempt_changes_nothing(
    dev_client: Client, task_queue: str, tmp_path: Path
) -> None:
    """A reaper that acts on an attempt which completed meanwhile: the server refuses the token."""
    async with Worker(dev_client, task_queue=task_queue, workflows=[ReaperProbe], activities=[quick]):
        handle = await dev_client.start_workflow(
            ReaperProbe.run, id=f"reaper-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        assert await handle.result() == 1
    record = InFlightRecord(TOKENS[-1], handle.id, handle.result_run_id or "", "reaper.quick")
    dead = await dead_lease(tmp_path)  # a SIGKILLed worker's lease, whose journal left the attempt open
    append_records(dead.journal, record)

    reaped = await reap_dead_workers(dev_client, tmp_path)

    assert (reaped.workers, reaped.attempts_failed, reaped.attempts_gone) == (1, 0, 1)
    history = await handle.fetch_history()
    assert [e.event_type for e in history.events].count(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED) == 0


RUNNING: list[bytes] = []
STARTED = asyncio.Event()


@activity.defn(name="reaper.checkpointed")
async def checkpointed() -> str:
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat({"input_tokens": 42})  # what a model call's heartbeats carry (usage so far)
        RUNNING.append(info.task_token)
        STARTED.set()
        await asyncio.sleep(60)  # stands for a worker that died here
    return f"attempt {info.attempt}, details {list(info.heartbeat_details)}"


@workflow.defn(name="CheckpointedProbe", sandboxed=False)
class CheckpointedProbe:
    @workflow.run
    async def run(self) -> str:
        result: str = await workflow.execute_activity(
            checkpointed,
            start_to_close_timeout=timedelta(seconds=120),
            heartbeat_timeout=timedelta(seconds=30),  # far beyond the test: only the reaper can retry
        )
        return result


async def test_a_reaped_attempt_is_retried_at_once_with_its_last_heartbeat_details(
    dev_client: Client, task_queue: str, tmp_path: Path
) -> None:
    async with Worker(
        dev_client, task_queue=task_queue, workflows=[CheckpointedProbe], activities=[checkpointed]
    ):
        handle = await dev_client.start_workflow(
            CheckpointedProbe.run, id=f"reaper-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        await asyncio.wait_for(STARTED.wait(), 30)
        await heartbeat_recorded(handle)
        record = InFlightRecord(
            RUNNING[-1], handle.id, handle.first_execution_run_id or "", "reaper.checkpointed"
        )
        dead = await dead_lease(tmp_path)  # as a SIGKILLed worker leaves it: unlocked
        append_records(dead.journal, record)

        reaped = await reap_dead_workers(dev_client, tmp_path)
        result = await asyncio.wait_for(handle.result(), 10)

    assert (reaped.workers, reaped.attempts_failed) == (1, 1)
    # The retry can account for what the dead attempt had reported (the server keeps the details).
    assert result == "attempt 2, details [{'input_tokens': 42}]"


async def heartbeat_recorded(handle: WorkflowHandle) -> None:
    """Until the server holds the running attempt's heartbeat details."""
    async with asyncio.timeout(30):
        while True:
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].heartbeat_details.payloads:
                return
            await asyncio.sleep(0.05)


def test_a_journal_names_its_workers_recent_runs_newest_first(tmp_path: Path) -> None:
    """The runs whose sticky queue a reaper resets: open or closed attempts, each run once, bounded."""
    lease = WorkerLease.acquire(tmp_path)
    for n in (1, 2, 1, 3):
        lease.forget(lease.record(InFlightRecord(f"t{n}".encode(), f"wf-{n}", f"run-{n}", "llm.complete")))
    lease.record(InFlightRecord(b"open", "wf-4", "run-4", "tool.calculator"))
    try:
        assert journal_runs(lease.journal, 10) == [
            ("wf-4", "run-4"),
            ("wf-3", "run-3"),
            ("wf-1", "run-1"),
            ("wf-2", "run-2"),
        ]
        assert journal_runs(lease.journal, 2) == [("wf-4", "run-4"), ("wf-3", "run-3")]
    finally:
        lease.release()
