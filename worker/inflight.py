"""In-flight activity records, so that a dead worker's attempts are retried without waiting for
their heartbeat timeout (docs/operations.md, "Crash recovery").

Each worker process holds a lease: a file under WORKER_LEASE_DIR that it keeps locked (flock) for as
long as it lives, and next to it a journal of the activity attempts it starts and ends (an attempt's
task token and its run). The kernel drops the lock the moment the process dies, however it dies
(SIGKILL, OOM), so another worker on the machine can tell a dead peer from a slow one without any
timeout, and fail the attempts the dead peer's journal leaves open by task token (worker/reaper.py).
A journal entry is one append to a file on the page cache (microseconds; a file per attempt cost
0.45 ms in creating and removing it), no RPC and no fsync: the journal only has to outlive the
process, not the machine. A worker on another machine is still noticed by the heartbeat timeout.
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity

from activities.around import AroundActivities

__all__ = [
    "JOURNAL_SUFFIX",
    "LEASE_SUFFIX",
    "PENDING_SUFFIX",
    "InFlightRecord",
    "RecordInFlight",
    "WorkerLease",
    "journal_runs",
    "read_journal",
]

LEASE_SUFFIX = ".lease"
PENDING_SUFFIX = ".pending"  # a lease being created: locked, not yet published under LEASE_SUFFIX
JOURNAL_SUFFIX = ".journal"
# Past this size the journal is rewritten with only the attempts still open.
COMPACT_AT_BYTES = 4 * 2**20


@dataclass(frozen=True)
class InFlightRecord:
    task_token: bytes
    workflow_id: str
    run_id: str
    activity_type: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "task_token": base64.b64encode(self.task_token).decode(),
                "workflow_id": self.workflow_id,
                "run_id": self.run_id,
                "activity_type": self.activity_type,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> InFlightRecord:
        data = json.loads(text)
        return cls(
            base64.b64decode(data["task_token"]), data["workflow_id"], data["run_id"], data["activity_type"]
        )


class WorkerLease:
    """This process's lease and journal. `acquire` locks before it publishes, so a peer never sees an
    unlocked lease of a live worker."""

    def __init__(self, directory: Path, name: str, lock_fd: int) -> None:
        self.directory = directory
        self.name = name
        self._lock_fd = lock_fd
        self._ids = itertools.count()
        self._open: dict[int, str] = {}  # entry -> its journal line, for compaction
        self._journal_fd = self._open_journal()

    @classmethod
    def acquire(cls, directory: Path) -> WorkerLease:
        directory.mkdir(parents=True, exist_ok=True)
        while True:
            name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
            pending = directory / f"{name}{PENDING_SUFFIX}"
            fd = os.open(pending, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            try:
                # A reaper may take a just-created pending file for a dead worker's (it is unlocked
                # for an instant) and remove it: then start again under another name.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.replace(pending, directory / f"{name}{LEASE_SUFFIX}")
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)
                continue
            return cls(directory, name, fd)

    @property
    def path(self) -> Path:
        return self.directory / f"{self.name}{LEASE_SUFFIX}"

    @property
    def journal(self) -> Path:
        return self.directory / f"{self.name}{JOURNAL_SUFFIX}"

    def record(self, record: InFlightRecord) -> int:
        entry = next(self._ids)
        line = f"+{entry} {record.to_json()}\n"
        self._open[entry] = line
        self._append(line)
        return entry

    def forget(self, entry: int) -> None:
        self._open.pop(entry, None)
        self._append(f"-{entry}\n")

    def release(self) -> None:
        """On a clean exit: nothing is in flight any more, so nothing is left for a peer to reap."""
        os.close(self._journal_fd)
        self.journal.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        os.close(self._lock_fd)

    def interceptor(self) -> RecordInFlight:
        return RecordInFlight(self)

    def _open_journal(self) -> int:
        return os.open(self.journal, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, 0o600)

    def _append(self, line: str) -> None:
        os.write(self._journal_fd, line.encode())
        if os.fstat(self._journal_fd).st_size > COMPACT_AT_BYTES:
            self._compact()

    def _compact(self) -> None:
        # Replaced atomically: a peer reading after a crash sees the old journal or the new one.
        fresh = self.directory / f"{self.name}{JOURNAL_SUFFIX}.tmp"
        fresh.write_text("".join(self._open.values()))
        os.replace(fresh, self.journal)
        os.close(self._journal_fd)
        self._journal_fd = self._open_journal()


def read_journal(path: Path) -> list[InFlightRecord]:
    """The attempts a (dead) worker's journal leaves open; a line cut short by the crash is skipped."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    started: dict[str, InFlightRecord] = {}
    for line in lines:
        try:
            if line.startswith("+"):
                entry, text = line[1:].split(" ", 1)
                started[entry] = InFlightRecord.from_json(text)
            elif line.startswith("-"):
                started.pop(line[1:], None)
        except (ValueError, KeyError):
            continue
    return list(started.values())


def journal_runs(path: Path, limit: int) -> list[tuple[str, str]]:
    """The last `limit` distinct runs (workflow id, run id) a (dead) worker ran attempts for, open or
    closed: the runs it most likely still had cached, whose next workflow task waits on its sticky
    queue."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    runs: dict[tuple[str, str], None] = {}
    for line in reversed(lines):
        if not line.startswith("+"):
            continue
        try:
            record = InFlightRecord.from_json(line.split(" ", 1)[1])
        except (ValueError, KeyError, IndexError):
            continue
        runs.setdefault((record.workflow_id, record.run_id), None)
        if len(runs) >= limit:
            break
    return list(runs)


class RecordInFlight(AroundActivities):
    """Journals every attempt this worker runs, from its start to its end."""

    def __init__(self, lease: WorkerLease) -> None:
        self._lease = lease
        super().__init__(self._recorded)

    @asynccontextmanager
    async def _recorded(self, _input: object) -> AsyncIterator[None]:
        info = activity.info()
        entry = self._lease.record(
            InFlightRecord(
                info.task_token, info.workflow_id or "", info.workflow_run_id or "", info.activity_type
            )
        )
        try:
            yield
        finally:
            self._lease.forget(entry)
