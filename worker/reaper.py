"""Finds dead workers on this machine by their released leases (worker/inflight.py) and fails the
attempts they had in flight, so Temporal retries them at once instead of after their heartbeat
timeout; their runs' next workflow tasks leave the dead worker's sticky queue at once too.

A worker is reaped only once it is proven dead: its lease has a worker's name, the reaper holds that
very file locked itself (the kernel dropped its holder's lock: the holder is gone), the file holds
its writer's identity naming this file (its name and inode: not a copy, not a replacement), and the
journal's first line names the same identity (it was written under this lease). Anything else in the
folder (a stray copy, a journal without its lease, a lease that does not match its journal, another
name) is left alone, with a warning. And a task token that any other file in the folder names (a
live worker's journal it was copied from) is never failed: forging a dead worker's journal out of a
live one's fails nothing live.

Failing by task token is safe against a worker that only looked dead: a token names one attempt, and
the server refuses it once that attempt has completed, failed or timed out (NotFound, ignored here).
The only race is between two reapers, and the lock lets one of them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from worker.inflight import (
    JOURNAL_SUFFIX,
    LEASE_NAME,
    LEASE_SUFFIX,
    PENDING_SUFFIX,
    InFlightRecord,
    journal_identity,
    journal_lines,
    lease_identity,
    open_records,
    opened_tokens,
    recent_runs,
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
    attempts_kept: int = 0  # records another file of the folder names too (a copied journal): not failed
    ignored: int = 0  # lease files nobody holds that are not a dead worker's own lease


@dataclass
class _DeadWorker:
    """A lease proven dead, held locked by this reaper until its attempts are failed."""

    lease: Path
    fd: int
    journal: Path
    lines: list[str]  # its journal's, read under the lock


async def reap_dead_workers(
    client: Client, directory: Path, *, own: str | None = None, warned: set[str] | None = None
) -> Reaped:
    """One pass over the lease directory: every lease proven dead (module docstring) is reaped.
    `warned`: the files already warned about as ignored, to warn once per file across passes."""
    reaped = Reaped()
    dead: list[_DeadWorker] = []
    try:
        for path in _leases(directory):
            if path.stem == own:
                continue
            proof = _prove_dead(path)
            if isinstance(proof, _DeadWorker):
                dead.append(proof)
            elif proof is not None:
                reaped.ignored += 1
                if warned is None or path.name not in warned:
                    log.warning("ignoring %s in the lease folder: %s; never reaped", path.name, proof)
                    if warned is not None:
                        warned.add(path.name)
        if dead:
            await _reap(client, directory, dead, reaped)
    finally:
        for worker in dead:
            os.close(worker.fd)
    return reaped


async def _reap(client: Client, directory: Path, dead: list[_DeadWorker], reaped: Reaped) -> None:
    records = {worker.lease: open_records(worker.lines) for worker in dead}
    named_elsewhere = _tokens_elsewhere(directory, dead) if any(records.values()) else set()
    for worker in dead:
        mine = [r for r in records[worker.lease] if r.task_token not in named_elsewhere]
        kept = len(records[worker.lease]) - len(mine)
        failed = await asyncio.gather(*(_fail(client, worker.lease.stem, record) for record in mine))
        # Every run it recently worked for, not only those with an attempt open: a run whose next
        # workflow task already waits on the dead worker's sticky queue has none.
        runs = {(r.workflow_id, r.run_id) for r in mine} | set(recent_runs(worker.lines, STICKY_RESETS))
        await asyncio.gather(*(_reset_sticky(client, run) for run in runs))
        worker.journal.unlink(missing_ok=True)
        worker.lease.unlink(missing_ok=True)
        reaped.workers += 1
        reaped.attempts_failed += sum(failed)
        reaped.attempts_gone += len(failed) - sum(failed)
        reaped.attempts_kept += kept
        if mine or kept:
            log.warning(
                "worker %s died with %d attempt(s) in flight: %d failed for retry, %d already closed, "
                "%d left alone (another file in the lease folder names them)",
                worker.lease.stem,
                len(mine) + kept,
                sum(failed),
                len(failed) - sum(failed),
                kept,
            )


async def watch_for_dead_workers(
    client: Client, directory: Path, interval_s: float, *, own: str | None = None
) -> None:
    """Reap every interval, for as long as this worker runs (a worker reaps once before it polls too,
    so that a replacement finds its predecessor's attempts at once)."""
    warned: set[str] = set()
    while True:
        await asyncio.sleep(interval_s)
        await reap_quietly(client, directory, own=own, warned=warned)


async def reap_quietly(
    client: Client, directory: Path, *, own: str | None = None, warned: set[str] | None = None
) -> Reaped:
    """`reap_dead_workers`, logging instead of raising: a failed pass must neither stop a worker from
    starting nor end the watch (the heartbeat timeout still covers the dead worker's attempts)."""
    try:
        return await reap_dead_workers(client, directory, own=own, warned=warned)
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


def _prove_dead(path: Path) -> _DeadWorker | str | None:
    """A dead worker's lease, locked by us; None if it is held (alive, or another reaper's) or gone;
    otherwise why it proves nothing. A pending lease nobody holds and without an identity is one being
    created this instant (or whose creator died before writing anything): left alone silently."""
    if not LEASE_NAME.fullmatch(path.stem):
        return "not a worker's lease name"
    fd = _lock_if_free(path)
    if fd is None:
        return None
    try:
        identity = lease_identity(fd)
        if identity is None:
            reason = None if path.suffix == PENDING_SUFFIX else "it holds no worker's identity"
        elif identity.worker != path.stem or identity.inode != os.fstat(fd).st_ino:
            reason = f"it is a copy or a replacement of lease {identity.worker}, not that lease"
        else:
            journal = path.with_suffix(JOURNAL_SUFFIX)
            lines = journal_lines(journal)
            if lines is None:  # died before it created its journal: nothing in flight
                return _DeadWorker(path, fd, journal, [])
            if journal_identity(lines) == identity:
                return _DeadWorker(path, fd, journal, lines)
            reason = f"its journal {journal.name} was not written under it"
    except OSError as error:  # not a regular file we can read
        reason = f"unreadable ({error.strerror})"
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return reason


def _lock_if_free(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None  # reaped or released meanwhile
    except OSError:
        return None  # a symlink or a special file: no worker's lease, and nothing to lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        locked = os.fstat(fd)
        now = os.stat(path, follow_symlinks=False)
    except (BlockingIOError, FileNotFoundError):  # held, or released (unlinked) as we locked it
        os.close(fd)
        return None
    if not stat.S_ISREG(locked.st_mode) or now.st_ino != locked.st_ino:  # replaced as we locked it
        os.close(fd)
        return None
    return fd


def _tokens_elsewhere(directory: Path, dead: list[_DeadWorker]) -> set[bytes]:
    """The task tokens that any file of the folder besides the dead workers' own names: a live
    worker's journal, wherever a copy of it went. Read only when a dead worker left attempts open."""
    own = {worker.lease.name for worker in dead} | {worker.journal.name for worker in dead}
    tokens: set[bytes] = set()
    for name in os.listdir(directory):
        path = directory / name
        if name in own or not path.is_file():
            continue
        try:
            tokens |= opened_tokens(path.read_text(errors="replace").splitlines())
        except OSError:
            continue  # gone meanwhile
    return tokens


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
