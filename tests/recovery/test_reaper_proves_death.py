"""A reaper fails only the attempts of a worker it has proven dead (worker/reaper.py): files in the
lease folder that are not a dead worker's own lease and journal (a copy of a live worker's journal
beside a fresh lease, a live lease replaced by a copy of itself, a journal naming another worker's
attempts, names of another form) never fail a live worker's attempt."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.chaos.processes import WorkerProcess
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Stall
from tests.recovery.leases import LeaseHolder, append_open, dead_lease, open_lines
from tests.recovery.test_resume_after_kill import start_run_until_its_plan_step_stalls, worker_env
from worker.inflight import InFlightRecord
from worker.reaper import reap_dead_workers

pytestmark = pytest.mark.timeout(120)

# A name of the form a worker's lease has (pid-hex), so that only the proof of death can refuse it.
STRAY = "4242-0badf00d"


async def test_a_copy_of_a_live_journal_beside_a_fresh_lease_is_not_reaped(
    dev_client: Client, tmp_path: Path
) -> None:
    async with LeaseHolder(tmp_path, "live-1") as live:
        shutil.copy(live.journal, tmp_path / f"{STRAY}.journal")
        (tmp_path / f"{STRAY}.lease").touch()  # unlocked, as a dead worker's
        other = "4243-0badf00d"  # the same with a copy of the live lease (its identity) as the lease
        shutil.copy(live.journal, tmp_path / f"{other}.journal")
        shutil.copy(live.lease, tmp_path / f"{other}.lease")

        reaped = await reap_dead_workers(dev_client, tmp_path)

        assert (reaped.workers, reaped.attempts_failed, reaped.attempts_gone) == (0, 0, 0)
        assert {f"{STRAY}.lease", f"{other}.lease", live.lease.name} <= set(os.listdir(tmp_path))


async def test_a_live_lease_replaced_by_a_copy_of_itself_is_not_taken_for_dead(
    dev_client: Client, tmp_path: Path
) -> None:
    async with LeaseHolder(tmp_path, "live-1") as live:
        impostor = tmp_path / "impostor"
        shutil.copy(live.lease, impostor)
        impostor.replace(live.lease)  # same name and content, a file nobody holds

        reaped = await reap_dead_workers(dev_client, tmp_path)

        assert (reaped.workers, reaped.attempts_failed, reaped.attempts_gone) == (0, 0, 0)
        assert live.journal.exists()


async def test_a_dead_workers_journal_naming_a_live_attempt_fails_only_its_own(
    dev_client: Client, tmp_path: Path
) -> None:
    """A dead worker's real lease and journal, with a live worker's attempts appended: only the dead
    worker's own attempt is failed (its token is no real one: the server refuses it)."""
    async with LeaseHolder(tmp_path, "live-1") as live:
        dead = await dead_lease(tmp_path, "dead-1")
        append_open(dead.journal, open_lines(live.journal))

        reaped = await reap_dead_workers(dev_client, tmp_path)

        assert (reaped.workers, reaped.attempts_failed, reaped.attempts_gone) == (1, 0, 1)
        assert not dead.lease.exists() and live.journal.exists()


async def test_files_that_are_not_a_workers_lease_are_ignored(dev_client: Client, tmp_path: Path) -> None:
    record = InFlightRecord(b"a-token", "wf", "run", "tool.calculator")
    (tmp_path / "gone-1.lease").touch()  # a name no worker takes
    (tmp_path / "gone-1.journal").write_text(f"+0 {record.to_json()}\n")
    (tmp_path / f"{STRAY}.journal").write_text(f"+0 {record.to_json()}\n")  # a journal without a lease
    (tmp_path / "4244-0badf00d.lease").write_text("not a worker's identity\n")  # an empty or foreign lease
    (tmp_path / "4244-0badf00d.journal").write_text(f"+0 {record.to_json()}\n")
    before = sorted(os.listdir(tmp_path))

    reaped = await reap_dead_workers(dev_client, tmp_path)

    assert (reaped.workers, reaped.attempts_failed, reaped.attempts_gone) == (0, 0, 0)
    assert sorted(os.listdir(tmp_path)) == before


async def test_a_live_workers_model_call_survives_copies_of_its_files_and_a_second_worker(
    dev_server_env: WorkflowEnvironment, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    """The review's attack on real `python -m worker` processes: a live worker's journal copied to a
    new name beside a fresh lease, its lease replaced by a copy of itself, and a dead worker's journal
    naming its attempt; then a second worker starts (it reaps before it polls, then every 0.25 s, as
    the live worker does too). The live worker's held model call completes on its first attempt."""
    client = dev_server_env.client
    task_queue = f"proof-{uuid.uuid4().hex[:8]}"
    env = worker_env(dev_server_env, anthropic_server, task_queue, tmp_path)
    leases = tmp_path / ".state" / "workers"  # WORKER_LEASE_DIR's default, under the workers' cwd
    anthropic_server.script(Stall(after_events=2))
    live = WorkerProcess(env, tmp_path)
    second: WorkerProcess | None = None
    try:
        await live.wait_ready()
        handle = await start_run_until_its_plan_step_stalls(client, anthropic_server, task_queue)
        (journal,) = leases.glob(f"{live.pid}-*.journal")
        lease = journal.with_suffix(".lease")
        assert open_lines(journal), "the held model call is journaled"

        shutil.copy(journal, leases / f"{STRAY}.journal")
        (leases / f"{STRAY}.lease").touch()
        impostor = leases / "impostor"
        shutil.copy(lease, impostor)
        impostor.replace(lease)
        dead = await dead_lease(leases)
        append_open(dead.journal, open_lines(journal))

        second = WorkerProcess(env, tmp_path)
        await second.wait_ready()
        await until(lambda: not dead.lease.exists())  # a reaper's pass went over every file
        anthropic_server.release()
        result = await asyncio.wait_for(handle.result(), 60)
    finally:
        anthropic_server.release()
        for worker in (live, second):
            if worker is not None:
                await worker.stop()

    assert result.outcome == "completed"
    stalled_step = anthropic_server.requests[0].step
    assert anthropic_server.requests_per_step()[stalled_step] == 1  # never retried
    events = (await handle.fetch_history()).events
    assert [e.event_type for e in events].count(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED) == 0
    first_started = next(e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert first_started.activity_task_started_event_attributes.attempt == 1
    assert (leases / f"{STRAY}.lease").exists()  # ignored, not reaped
    assert any(STRAY in line and "ignor" in line for line in second.lines), second.lines[-20:]


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
