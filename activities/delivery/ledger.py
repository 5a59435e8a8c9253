"""The dedupe ledger: remembers which idempotency keys were sent, for receivers that cannot (SMTP).

Protocol, per key: `claim` (a "pending" row is written, or found), send, `mark_sent`. A key whose row
says "sent" is never sent again. A "pending" row means an earlier attempt started and did not confirm,
which is either a failure before the send or a crash between the receiver accepting and `mark_sent`:
the ledger cannot tell the two apart, so the send is repeated (at-least-once; docs/operations.md).

Two backends with one schema: a SQLite file (default; safe for several worker processes on one host)
and PostgreSQL (`DEDUPE_LEDGER_DSN`; needed when workers run on several hosts). psycopg is imported
only when a DSN is configured.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from activities.delivery.failures import unavailable
from common.postgres import SharedConnection, require_psycopg
from common.sqlite_file import SqliteFile

__all__ = ["DedupeLedger", "PostgresLedger", "SqliteLedger", "open_ledger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS delivery_ledger (
    idempotency_key TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
    detail TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
)
"""

# One statement, so two workers claiming the same key at once serialise on the primary key. A "sent"
# row comes back unchanged; a "pending" row counts one more attempt.
_CLAIM = """
INSERT INTO delivery_ledger
    (idempotency_key, channel, target, status, detail, attempts, created_at, updated_at)
VALUES ({p}, {p}, {p}, 'pending', '', 1, {p}, {p})
ON CONFLICT (idempotency_key) DO UPDATE SET
    attempts = CASE WHEN delivery_ledger.status = 'pending'
                    THEN delivery_ledger.attempts + 1 ELSE delivery_ledger.attempts END,
    updated_at = CASE WHEN delivery_ledger.status = 'pending'
                      THEN excluded.updated_at ELSE delivery_ledger.updated_at END
RETURNING status, detail, attempts
"""

_MARK_SENT = """
UPDATE delivery_ledger SET status = 'sent', detail = {p}, updated_at = {p} WHERE idempotency_key = {p}
"""

_LOOKUP = "SELECT status, detail, attempts FROM delivery_ledger WHERE idempotency_key = {p}"


@dataclass(frozen=True)
class Claim:
    already_sent: bool
    detail: str  # what the confirmed send recorded (e.g. the Message-ID); empty while pending
    attempt: int  # 1 for the first claim of a key; more means an earlier attempt did not confirm


@dataclass(frozen=True)
class LedgerEntry:
    status: str
    detail: str
    attempts: int


class DedupeLedger(Protocol):
    async def claim(self, key: str, channel: str, target: str) -> Claim: ...

    async def mark_sent(self, key: str, detail: str) -> None: ...

    async def lookup(self, key: str) -> LedgerEntry | None: ...

    async def close(self) -> None: ...


def _claim_from_row(row: Any) -> Claim:
    status, detail, attempts = row
    return Claim(already_sent=status == "sent", detail=str(detail), attempt=int(attempts))


class SqliteLedger:
    """A SQLite file, created on first use. WAL mode and a busy timeout let several worker processes
    on one host share it; each call opens its own connection in a thread, so nothing blocks the loop."""

    def __init__(self, path: Path, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self._file = SqliteFile(
            self.path,
            [_SCHEMA.format(ts="TEXT")],
            "dedupe ledger",
            unavailable,
            busy_timeout_s=busy_timeout_s,
        )

    async def claim(self, key: str, channel: str, target: str) -> Claim:
        now = _now()
        row = await self._run(_CLAIM.format(p="?"), (key, channel, target, now, now), fetch=True)
        return _claim_from_row(row)

    async def mark_sent(self, key: str, detail: str) -> None:
        await self._run(_MARK_SENT.format(p="?"), (detail, _now(), key), fetch=False)

    async def lookup(self, key: str) -> LedgerEntry | None:
        row = await self._run(_LOOKUP.format(p="?"), (key,), fetch=True)
        return LedgerEntry(str(row[0]), str(row[1]), int(row[2])) if row else None

    async def close(self) -> None:
        await self._file.close()  # the writer's kept connection

    async def _run(self, sql: str, params: tuple[object, ...], *, fetch: bool) -> Any:
        def statement(connection: sqlite3.Connection) -> Any:
            cursor = connection.execute(sql, params)
            return cursor.fetchone() if fetch else None

        # Every ledger statement writes (a claim, a "sent" mark) or must see the last one written.
        return await self._file.run(statement, write=True)


class PostgresLedger:
    """PostgreSQL, for workers on several hosts. One connection per worker process, used by one
    ledger call at a time (ledger calls are short next to the SMTP conversation they guard);
    reconnects after a failure."""

    def __init__(self, dsn: str):
        self._db = SharedConnection(dsn, [_SCHEMA.format(ts="TIMESTAMPTZ")], "dedupe ledger", unavailable)

    async def claim(self, key: str, channel: str, target: str) -> Claim:
        now = datetime.now(UTC)
        row = await self._run(_CLAIM.format(p="%s"), (key, channel, target, now, now), fetch=True)
        return _claim_from_row(row)

    async def mark_sent(self, key: str, detail: str) -> None:
        await self._run(_MARK_SENT.format(p="%s"), (detail, datetime.now(UTC), key), fetch=False)

    async def lookup(self, key: str) -> LedgerEntry | None:
        row = await self._run(_LOOKUP.format(p="%s"), (key,), fetch=True)
        return LedgerEntry(str(row[0]), str(row[1]), int(row[2])) if row else None

    async def close(self) -> None:
        await self._db.close()

    async def _run(self, sql: str, params: tuple[object, ...], *, fetch: bool) -> Any:
        return await self._db.fetch(sql, params, rows="one" if fetch else "none")


def open_ledger(path: Path, dsn: str | None) -> DedupeLedger:
    """The PostgreSQL ledger when a DSN is configured, else the SQLite file."""
    if dsn:
        require_psycopg("DEDUPE_LEDGER_DSN")
        return PostgresLedger(dsn)
    return SqliteLedger(path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
