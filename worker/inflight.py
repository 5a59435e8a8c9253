"""In-flight activity records, so that a dead worker's attempts are retried without waiting for
their heartbeat timeout (docs/operations.md, "Crash recovery").

Each worker process holds a lease: a file under WORKER_LEASE_DIR that it keeps locked (flock) for as
long as it lives, and next to it a directory with one small file per activity attempt it is running
(the attempt's task token and its run). The kernel drops the lock the moment the process dies, however
it dies (SIGKILL, OOM), so another worker on the machine can tell a dead peer from a slow one without
any timeout, and fail the dead peer's attempts by task token (worker/reaper.py). Writing a record is
two file-system calls on the page cache, no RPC and no fsync: the records only have to outlive the
process, not the machine. A worker on another machine is still noticed by the heartbeat timeout.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

__all__ = [
    "LEASE_SUFFIX",
    "PENDING_SUFFIX",
    "InFlightRecord",
    "RecordInFlight",
    "WorkerLease",
    "read_records",
]

LEASE_SUFFIX = ".lease"
PENDING_SUFFIX = ".pending"  # a lease being created: locked, not yet published under LEASE_SUFFIX


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
    """This process's lease and its in-flight records. `acquire` locks before it publishes, so a peer
    never sees an unlocked lease of a live worker."""

    def __init__(self, directory: Path, name: str, lock_fd: int) -> None:
        self.directory = directory
        self.name = name
        self.records = directory / name
        self._lock_fd = lock_fd

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
                (directory / name).mkdir()
                os.replace(pending, directory / f"{name}{LEASE_SUFFIX}")
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)
                continue
            return cls(directory, name, fd)

    @property
    def path(self) -> Path:
        return self.directory / f"{self.name}{LEASE_SUFFIX}"

    def record(self, record: InFlightRecord) -> Path:
        path = self.records / hashlib.sha256(record.task_token).hexdigest()[:32]
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, record.to_json().encode())
        finally:
            os.close(fd)
        return path

    def forget(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def release(self) -> None:
        """On a clean exit: nothing is in flight any more, so nothing is left for a peer to reap."""
        shutil.rmtree(self.records, ignore_errors=True)
        self.path.unlink(missing_ok=True)
        os.close(self._lock_fd)

    def interceptor(self) -> Interceptor:
        return RecordInFlight(self)


def read_records(directory: Path) -> list[InFlightRecord]:
    """A (dead) worker's records; a record cut short by the crash is skipped."""
    records = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        try:
            records.append(InFlightRecord.from_json(path.read_text()))
        except (OSError, ValueError, KeyError):
            continue
    return records


class RecordInFlight(Interceptor):
    def __init__(self, lease: WorkerLease) -> None:
        self._lease = lease

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Recorded(next, self._lease)


class _Recorded(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, lease: WorkerLease) -> None:
        super().__init__(next)
        self._lease = lease

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        path = self._lease.record(
            InFlightRecord(
                info.task_token, info.workflow_id or "", info.workflow_run_id or "", info.activity_type
            )
        )
        try:
            return await self.next.execute_activity(input)
        finally:
            self._lease.forget(path)
