"""Finds dead workers on this machine by their released leases (worker/inflight.py) and fails the
attempts they had in flight, so Temporal retries them at once instead of after their heartbeat
timeout; their runs' next workflow tasks leave the dead worker's sticky queue at once too.

Failing by task token is safe against a worker that only looked dead: a token names one attempt, and
the server refuses it once that attempt has completed, failed or timed out (NotFound, ignored here).
A lease whose lock can be taken belongs to a process that has exited, so there is no such case for a
lease either; the only race is between two reapers, and the lock lets one of them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from worker.inflight import (
    JOURNAL_SUFFIX,
    LEASE_SUFFIX,
    PENDING_SUFFIX,
    InFlightRecord,
    journal_runs,
    read_journal,
)

__all__ = [
    "DEAD_WORKER_CHECK_S",
    "WORKER_DIED",
    "Reaped",
    "reap_dead_workers",
    "reap_quietly",
    "watch_for_dead_workers",
]

log = logging.getLogger("worker.reaper")

# The failure type of an attempt whose worker died: retryable, so the activity's retry policy applies.
WORKER_DIED = "WorkerDied"
# How often a worker looks for dead peers: a scan and one non-blocking lock per peer, no RPC.
DEAD_WORKER_CHECK_S = 0.25
# At most this many of a dead worker's recent runs get their sticky queue reset (one RPC each, at
# once; a run that ended or moved on costs a refused call or one replay on its new worker).
STICKY_RESETS = 1000


@dataclass
class Reaped:
    workers: int = 0
    attempts_failed: int = 0  # attempts that were still running on a dead worker
    attempts_gone: int = 0  # records of attempts the server had already closed


async def reap_dead_workers(client: Client, directory: Path, *, own: str | None = None) -> Reaped:
    """One pass over the lease directory: every lease nobody holds is a dead worker's."""
    reaped = Reaped()
    for path in _leases(directory):
        if path.stem == own:
            continue
        fd = _lock_if_free(path)
        if fd is None:
            continue  # alive (or another reaper is on it)
        try:
            journal = directory / f"{path.stem}{JOURNAL_SUFFIX}"
            records = read_journal(journal)
            failed = await asyncio.gather(*(_fail(client, path.stem, record) for record in records))
            # Every run it recently worked for, not only those with an attempt open: a run whose next
            # workflow task already waits on the dead worker's sticky queue has none.
            runs = {(r.workflow_id, r.run_id) for r in records} | set(journal_runs(journal, STICKY_RESETS))
            await asyncio.gather(*(_reset_sticky(client, run) for run in runs))
            journal.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
        reaped.workers += 1
        reaped.attempts_failed += sum(failed)
        reaped.attempts_gone += len(failed) - sum(failed)
        if records:
            log.warning(
                "worker %s died with %d attempt(s) in flight: %d failed for retry, %d already closed",
                path.stem,
                len(records),
                sum(failed),
                len(failed) - sum(failed),
            )
    return reaped


async def watch_for_dead_workers(
    client: Client, directory: Path, interval_s: float, *, own: str | None = None
) -> None:
    """Reap every interval, for as long as this worker runs (a worker reaps once before it polls too,
    so that a replacement finds its predecessor's attempts at once)."""
    while True:
        await asyncio.sleep(interval_s)
        await reap_quietly(client, directory, own=own)


async def reap_quietly(client: Client, directory: Path, *, own: str | None = None) -> Reaped:
    """`reap_dead_workers`, logging instead of raising: a failed pass must neither stop a worker from
    starting nor end the watch (the heartbeat timeout still covers the dead worker's attempts)."""
    try:
        return await reap_dead_workers(client, directory, own=own)
    except Exception:
        log.exception("checking for dead workers failed")
        return Reaped()


def _leases(directory: Path) -> list[Path]:
    # A directory listing on the page cache: microseconds, not worth a thread hop.
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [directory / n for n in names if n.endswith((LEASE_SUFFIX, PENDING_SUFFIX))]


def _lock_if_free(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None  # reaped or released meanwhile
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if not path.exists():  # released (unlinked) between our open and our lock
        os.close(fd)
        return None
    return fd


async def _fail(client: Client, worker: str, record: InFlightRecord) -> bool:
    handle = client.get_async_activity_handle(task_token=record.task_token)
    try:
        await handle.fail(
            ApplicationError(f"worker {worker} died while running this attempt", type=WORKER_DIED)
        )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            log.warning("could not fail %s of %s: %s", record.activity_type, record.workflow_id, error)
        return False
    return True


async def _reset_sticky(client: Client, run: tuple[str, str]) -> None:
    workflow_id, run_id = run
    request = ResetStickyTaskQueueRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id)
    )
    with contextlib.suppress(RPCError):  # the run may have ended; a sticky timeout is the fallback
        await client.workflow_service.reset_sticky_task_queue(request)
