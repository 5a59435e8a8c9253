"""A SQLite file that a worker's component (the dedupe ledger, the retrieval index) uses: created on
first use, shared by the worker processes of one host (WAL mode, a busy timeout), one connection per
call in a worker thread so nothing blocks the event loop, writes in `BEGIN IMMEDIATE` transactions
(durable with `synchronous=FULL`), and a failure raised as the component's retryable error."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

__all__ = ["SqliteFile"]

T = TypeVar("T")


class SqliteFile:
    def __init__(
        self,
        path: Path,
        schema: Sequence[str],
        what: str,
        unavailable: Callable[[str], Exception],
        *,
        busy_timeout_s: float = 30.0,
    ) -> None:
        """`schema`: statements run once per process (CREATE ... IF NOT EXISTS); `what` names the
        file in messages; `unavailable(message)` is the retryable error a failure raises."""
        self.path = Path(path)
        self._schema = schema
        self._what = what
        self._unavailable = unavailable
        self._busy_timeout_s = busy_timeout_s
        self._ready = False

    async def run(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """`work(connection)` in a worker thread; with `write`, in one transaction that is all or
        nothing and survives a power cut once it returned."""
        try:
            return await asyncio.to_thread(self._execute, work, write)
        except sqlite3.Error as error:
            self._ready = False  # e.g. the file was removed: the next call recreates the schema
            raise self._unavailable(f"{self._what} {self.path}: {error}") from None

    def _execute(self, work: Callable[[sqlite3.Connection], T], write: bool) -> T:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        try:
            if not self._ready:
                self._initialise(connection)
            if not write:
                return work(connection)
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("BEGIN IMMEDIATE")
            result = work(connection)  # rows (RETURNING) are read before COMMIT
            connection.execute("COMMIT")
            return result
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    def _initialise(self, connection: sqlite3.Connection) -> None:
        """WAL mode and the schema, once per process. Switching the journal mode answers "database
        is locked" at once, without the busy handler, while another process opens the same new file:
        retry that for up to the busy timeout."""
        deadline = time.monotonic() + self._busy_timeout_s
        delay = 0.01
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                for statement in self._schema:
                    connection.execute(statement)
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)  # in the worker thread, never on the event loop
                delay = min(delay * 2, 0.5)
        self._ready = True
