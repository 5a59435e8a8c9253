"""Worker leases held by real processes, for the reaper's tests: a live one (`LeaseHolder`) and a
dead one (`dead_lease`: its process SIGKILLed, as a crashed worker leaves it)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from worker.inflight import InFlightRecord

__all__ = ["LeaseHolder", "append_open", "append_records", "dead_lease", "open_lines"]

# Acquires a lease in argv[1], records an open attempt per token in argv[2:] and one closed attempt,
# prints the lease's name and waits to be killed.
HOLD_A_LEASE = """
import sys, time
from pathlib import Path
from worker.inflight import InFlightRecord, WorkerLease
lease = WorkerLease.acquire(Path(sys.argv[1]))
for token in sys.argv[2:]:
    lease.record(InFlightRecord(token.encode(), "wf", "run", "llm.complete"))
lease.forget(lease.record(InFlightRecord(b"finished", "wf", "run", "tool.calculator")))
print(lease.name, flush=True)
time.sleep(600)
"""


class LeaseHolder:
    """A process holding a lease in `directory`, with an open attempt per token."""

    def __init__(self, directory: Path, *tokens: str) -> None:
        self.directory = directory
        self.tokens = tokens
        self.name = ""
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> LeaseHolder:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLD_A_LEASE,
            str(self.directory),
            *self.tokens,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        self.name = (await asyncio.wait_for(self._process.stdout.readline(), 30)).decode().strip()
        assert self.name, "the lease holder exited before it held its lease"
        return self

    @property
    def lease(self) -> Path:
        return self.directory / f"{self.name}.lease"

    @property
    def journal(self) -> Path:
        return self.directory / f"{self.name}.journal"

    async def kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            os.kill(self._process.pid, signal.SIGKILL)
            await self._process.wait()

    async def __aexit__(self, *_exc: object) -> None:
        await self.kill()


async def dead_lease(directory: Path, *tokens: str) -> LeaseHolder:
    """A lease whose process was SIGKILLed while the attempts of `tokens` were open."""
    holder = LeaseHolder(directory, *tokens)
    await holder.__aenter__()
    await holder.kill()
    return holder


def open_lines(journal: Path) -> list[str]:
    """The lines of a journal that open an attempt (what a copy of it would make a reaper fail)."""
    return [line for line in journal.read_text().splitlines() if line.startswith("+")]


def append_open(journal: Path, lines: list[str], first_entry: int = 1000) -> None:
    """Appends `lines` (attempt openings of another journal) under entry numbers of their own."""
    with journal.open("a") as out:
        for n, line in enumerate(lines, start=first_entry):
            out.write(f"+{n} {line.split(' ', 1)[1]}\n")


def append_records(journal: Path, *records: InFlightRecord, first_entry: int = 100) -> None:
    """Opens attempts in a (dead worker's) journal, as its worker would have."""
    with journal.open("a") as out:
        for n, record in enumerate(records, start=first_entry):
            out.write(f"+{n} {record.to_json()}\n")
