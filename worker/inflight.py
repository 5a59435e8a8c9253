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

A lease and its journal are created together and bound to each other: the lease file holds the
writer's identity (`LeaseIdentity`: its name, pid, a random nonce and the lease file's own inode),
and the journal's first line repeats it. A reaper fails a journal's attempts only when it holds that
very lease file locked itself and both name the same identity (worker/reaper.py), so a copy of a
live worker's journal, or a live lease replaced by a copy of itself, proves nothing.
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from temporalio import activity

from activities.around import AroundActivities

__all__ = [
    "JOURNAL_SUFFIX",
    "LEASE_NAME",
    "LEASE_SUFFIX",
    "PENDING_SUFFIX",
    "InFlightRecord",
    "LeaseIdentity",
    "RecordInFlight",
    "WorkerLease",
    "journal_identity",
    "journal_lines",
    "journal_runs",
    "lease_identity",
    "open_records",
    "opened_tokens",
    "read_journal",
    "recent_runs",
]

LEASE_SUFFIX = ".lease"
PENDING_SUFFIX = ".pending"  # a lease being created: locked, not yet published under LEASE_SUFFIX
JOURNAL_SUFFIX = ".journal"
# The name a worker gives its lease and journal: its pid and 8 random hex digits.
LEASE_NAME = re.compile(r"[0-9]+-[0-9a-f]{8}")
# The journal's first line: this prefix and its lease's identity.
JOURNAL_HEADER = "#lease "
# A lease file holds one identity: far less than this.
MAX_IDENTITY_BYTES = 4096
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


@dataclass(frozen=True)
class LeaseIdentity:
    """Who wrote a lease: in the lease file and on its journal's first line. The inode is the lease
    file's own: a live worker keeps it open, so no other file can have it while the worker lives."""

    worker: str  # the lease's name
    pid: int
    nonce: str  # random, per lease
    inode: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def parse(cls, text: str) -> LeaseIdentity | None:
        """None for anything a worker did not write (empty, cut short, another shape)."""
        try:
            data = json.loads(text)
            identity = cls(data["worker"], data["pid"], data["nonce"], data["inode"])
        except (ValueError, KeyError, TypeError):
            return None
        types_ok = isinstance(identity.worker, str) and isinstance(identity.nonce, str)
        numbers_ok = all(type(n) is int for n in (identity.pid, identity.inode))
        return identity if types_ok and numbers_ok else None


class WorkerLease:
    """This process's lease and journal. `acquire` locks the lease, writes its identity and creates the
    journal before it publishes the lease, so a peer never sees an unlocked lease of a live worker nor
    a lease without its journal."""

    def __init__(self, directory: Path, identity: LeaseIdentity, lock_fd: int, journal_fd: int) -> None:
        self.directory = directory
        self.identity = identity
        self._lock_fd = lock_fd
        self._ids = itertools.count()
        self._open: dict[int, str] = {}  # entry -> its journal line, for compaction
        self._journal_fd = journal_fd
        # Only this process writes its journal, so its size is counted here, not asked of the
        # kernel after every append (an fstat per append: half the journal's syscalls).
        self._journal_bytes = os.fstat(journal_fd).st_size

    @classmethod
    def acquire(cls, directory: Path) -> WorkerLease:
        # Only the workers' user may write here (an existing directory keeps its mode).
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        while True:
            name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
            pending = directory / f"{name}{PENDING_SUFFIX}"
            try:
                fd = os.open(pending, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                continue
            journal = directory / f"{name}{JOURNAL_SUFFIX}"
            journal_fd = -1
            try:
                # Blocking: a reaper locks an empty file only for the instant it takes to read that
                # it proves nothing, and never removes it.
                fcntl.flock(fd, fcntl.LOCK_EX)
                identity = LeaseIdentity(name, os.getpid(), uuid.uuid4().hex, os.fstat(fd).st_ino)
                os.write(fd, identity.to_json().encode())
                journal_fd = os.open(
                    journal, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, 0o600
                )
                os.write(journal_fd, _header(identity).encode())
                os.replace(pending, directory / f"{name}{LEASE_SUFFIX}")
            except BaseException as error:
                if journal_fd >= 0:
                    os.close(journal_fd)
                    journal.unlink(missing_ok=True)
                pending.unlink(missing_ok=True)
                os.close(fd)
                if isinstance(error, FileExistsError):  # a journal of that name (not ours): another name
                    continue
                raise
            return cls(directory, identity, fd, journal_fd)

    @property
    def name(self) -> str:
        return self.identity.worker

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

    def _append(self, line: str) -> None:
        data = line.encode()
        os.write(self._journal_fd, data)
        self._journal_bytes += len(data)
        if self._journal_bytes > COMPACT_AT_BYTES:
            self._compact()

    def _compact(self) -> None:
        # Replaced atomically: a peer reading after a crash sees the old journal or the new one.
        fresh = self.directory / f"{self.name}{JOURNAL_SUFFIX}.tmp"
        content = (_header(self.identity) + "".join(self._open.values())).encode()
        fresh.write_bytes(content)
        os.replace(fresh, self.journal)
        os.close(self._journal_fd)
        self._journal_fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._journal_bytes = len(content)


def _header(identity: LeaseIdentity) -> str:
    return f"{JOURNAL_HEADER}{identity.to_json()}\n"


def lease_identity(fd: int) -> LeaseIdentity | None:
    """The identity in an open lease file; None if it holds none (empty, a stray, not a worker's)."""
    data = os.pread(fd, MAX_IDENTITY_BYTES, 0)
    try:
        return LeaseIdentity.parse(data.decode())
    except UnicodeDecodeError:
        return None


def journal_lines(path: Path) -> list[str] | None:
    """A journal's lines, read once (None if there is no such file)."""
    try:
        return path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return None


def journal_identity(lines: list[str]) -> LeaseIdentity | None:
    """The identity of the lease a journal was written under (its first line), if it has one."""
    if not lines or not lines[0].startswith(JOURNAL_HEADER):
        return None
    return LeaseIdentity.parse(lines[0].removeprefix(JOURNAL_HEADER))


def read_journal(path: Path) -> list[InFlightRecord]:
    """The attempts a (dead) worker's journal leaves open; a line cut short by the crash is skipped."""
    return open_records(journal_lines(path) or [])


def open_records(lines: list[str]) -> list[InFlightRecord]:
    started: dict[str, InFlightRecord] = {}
    for line in lines:
        try:
            if line.startswith("+"):
                entry, text = line[1:].split(" ", 1)
                started[entry] = InFlightRecord.from_json(text)
            elif line.startswith("-"):
                started.pop(line[1:], None)
        except (ValueError, KeyError, TypeError):  # cut short by a crash, or not a worker's line
            continue
    return list(started.values())


def opened_tokens(lines: list[str]) -> set[bytes]:
    """Every task token a journal (or a copy of one) opened an attempt for, open or closed since."""
    tokens: set[bytes] = set()
    for line in lines:
        if line.startswith("+"):
            try:
                tokens.add(InFlightRecord.from_json(line.split(" ", 1)[1]).task_token)
            except (ValueError, KeyError, IndexError, TypeError):
                continue
    return tokens


def journal_runs(path: Path, limit: int) -> list[tuple[str, str]]:
    """`recent_runs` of the journal at `path`."""
    return recent_runs(journal_lines(path) or [], limit)


def recent_runs(lines: list[str], limit: int) -> list[tuple[str, str]]:
    """The last `limit` distinct runs (workflow id, run id) a (dead) worker ran attempts for, open or
    closed: the runs it most likely still had cached, whose next workflow task waits on its sticky
    queue."""
    runs: dict[tuple[str, str], None] = {}
    for line in reversed(lines):
        if not line.startswith("+"):
            continue
        try:
            record = InFlightRecord.from_json(line.split(" ", 1)[1])
        except (ValueError, KeyError, IndexError, TypeError):
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
