"""The reservation ledger of tenant budgets: every model call of a tenant with a budget reserves its
worst-case cost before the provider is called, and settles to its true cost afterwards.

One transaction per reservation, atomic across every worker sharing the database:
1. expired reservations of the tenant (their worker died) become `lost`, kept at their reserved
   amount: the provider may have billed them, and the retry reserves again;
2. the tenant's day and month totals (spend settled plus reservations open) are read, locked, and
   checked against the limits;
3. within them, the amount is added to both totals and the reservation row written; else a refusal.

Settling replaces the reserved amount in the totals by the true cost (`settled`, or `failed` for a
failed attempt: it was billed too). A reservation is settled once, so an amount is never counted
twice; a `lost` row settled late by a worker that was only slow is corrected to its true cost. The
day and month are those of the reservation (UTC). Amounts are integer nanodollars, so totals are
exact sums.

Two backends with one schema: a SQLite file (default: the workers of one host; `BEGIN IMMEDIATE`
serialises the transactions) and PostgreSQL (`SPEND_LEDGER_DSN`: workers on many hosts; the totals
rows are locked with `SELECT ... FOR UPDATE`, day before month, so transactions never deadlock).
The transactions are written once, as generators of statements that each backend runs.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from temporalio.exceptions import ApplicationError

from common.postgres import SharedConnection, require_psycopg
from common.sqlite_file import SqliteFile

__all__ = [
    "NANOS_PER_USD",
    "SPEND_LEDGER_UNAVAILABLE",
    "Limits",
    "PostgresSpendLedger",
    "Refusal",
    "Reservation",
    "Reserved",
    "SpendLedger",
    "SpendRow",
    "SqliteSpendLedger",
    "nanos",
    "open_spend_ledger",
    "usd",
]

NANOS_PER_USD = 1_000_000_000
SPEND_LEDGER_UNAVAILABLE = "SpendLedgerUnavailable"  # retryable: the database did not answer

Settled = Literal["settled", "failed"]
T = TypeVar("T")

_SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS spend_reservations (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        day TEXT NOT NULL,
        month TEXT NOT NULL,
        model TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        step TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        reserved_nanos BIGINT NOT NULL,
        cost_nanos BIGINT,
        state TEXT NOT NULL CHECK (state IN ('reserved', 'settled', 'failed', 'lost')),
        created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        settled_at DOUBLE PRECISION
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS spend_reservations_open
        ON spend_reservations (tenant, expires_at) WHERE state = 'reserved'
    """,
    "CREATE INDEX IF NOT EXISTS spend_reservations_by_day ON spend_reservations (day, tenant)",
    """
    CREATE TABLE IF NOT EXISTS spend_totals (
        tenant TEXT NOT NULL,
        period TEXT NOT NULL,
        used_nanos BIGINT NOT NULL,
        PRIMARY KEY (tenant, period)
    )
    """,
]

_SWEEP = """
UPDATE spend_reservations SET state = 'lost', cost_nanos = reserved_nanos, settled_at = {p}
WHERE tenant = {p} AND state = 'reserved' AND expires_at < {p}
"""
_ENSURE_TOTALS = """
INSERT INTO spend_totals (tenant, period, used_nanos) VALUES ({p}, {p}, 0), ({p}, {p}, 0)
ON CONFLICT (tenant, period) DO NOTHING
"""
_READ_TOTALS = """
SELECT period, used_nanos FROM spend_totals WHERE tenant = {p} AND period IN ({p}, {p})
ORDER BY period {lock}
"""
_ADD_TO_TOTALS = """
UPDATE spend_totals SET used_nanos = used_nanos + {p} WHERE tenant = {p} AND period IN ({p}, {p})
"""
_INSERT = """
INSERT INTO spend_reservations (id, tenant, day, month, model, workflow_id, step, attempt,
    reserved_nanos, cost_nanos, state, created_at, expires_at, settled_at)
VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, NULL, 'reserved', {p}, {p}, NULL)
"""
_RENEW = "UPDATE spend_reservations SET expires_at = {p} WHERE id = {p} AND state = 'reserved'"
_SETTLE = """
UPDATE spend_reservations SET state = {p}, cost_nanos = {p}, settled_at = {p}
WHERE id = {p} AND state IN ('reserved', 'lost')
RETURNING tenant, day, month, reserved_nanos
"""
_ROWS = """
SELECT tenant, day, model,
       CASE WHEN state = 'reserved' AND expires_at < {p} THEN 'lost' ELSE state END AS shown,
       attempt > 1 AS retry, COUNT(*), SUM(COALESCE(cost_nanos, reserved_nanos))
FROM spend_reservations WHERE day >= {p} AND ({p} = '' OR tenant = {p})
GROUP BY tenant, day, model, shown, retry ORDER BY tenant, day, model
"""
_USED = "SELECT tenant, period, used_nanos FROM spend_totals WHERE period IN ({p}, {p})"


def nanos(usd: float, *, round_up: bool = False) -> int:
    """USD as integer nanodollars (a reservation rounds up: it must cover the cost)."""
    value = usd * NANOS_PER_USD
    return math.ceil(value) if round_up else round(value)


def usd(amount_nanos: int) -> float:
    return amount_nanos / NANOS_PER_USD


def _day(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%d")


def _month(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m")


@dataclass(frozen=True)
class Limits:
    """A tenant's limits in nanodollars; None: no limit of that period."""

    daily: int | None = None
    monthly: int | None = None


@dataclass(frozen=True)
class Reservation:
    """What one model call attempt asks to reserve."""

    reservation_id: str
    tenant: str
    model: str
    amount_nanos: int
    workflow_id: str = ""
    step: str = ""
    attempt: int = 1


@dataclass(frozen=True)
class Reserved:
    reservation_id: str
    expires_at: float  # epoch seconds


@dataclass(frozen=True)
class Refusal:
    tenant: str
    period: Literal["daily", "monthly"]
    limit_nanos: int
    used_nanos: int  # settled spend plus open reservations, this day or month
    wanted_nanos: int  # this call's worst case

    def message(self) -> str:
        when = "today" if self.period == "daily" else "this month"
        return (
            f"tenant {self.tenant!r}: {self.period} budget ${usd(self.limit_nanos):.6f} would be exceeded: "
            f"${usd(self.used_nanos):.6f} spent or reserved {when}, this call may cost up to "
            f"${usd(self.wanted_nanos):.6f} (TENANT_BUDGETS_FILE)"
        )


@dataclass(frozen=True)
class SpendRow:
    """One group of `report`: attempts of a tenant's model on a day, in one state."""

    tenant: str
    day: str
    model: str
    state: str  # "settled", "failed", "lost", "reserved" (open right now)
    retry: bool  # attempts after the first of their call
    attempts: int
    nanos: int


class SpendLedger(Protocol):
    async def reserve(
        self, reservation: Reservation, limits: Limits, expires_in_s: float
    ) -> Reserved | Refusal: ...

    async def renew(self, reservation_id: str, expires_in_s: float) -> None: ...

    async def settle(self, reservation_id: str, cost_nanos: int, state: Settled) -> None: ...

    async def report(self, since_day: str, tenant: str = "") -> list[SpendRow]: ...

    async def used(self) -> dict[tuple[str, str], int]: ...

    async def close(self) -> None: ...


# -- the transactions, once for both backends --------------------------------------------------------

# A statement: SQL (with {p} placeholders, {lock} for a row lock), its parameters, and which rows it
# answers with. A transaction is a generator of statements that receives each one's rows.
Statement = tuple[str, tuple[Any, ...], Literal["one", "all", "none"]]
Transaction = Generator[Statement, Any, T]


def _reserve(
    reservation: Reservation, limits: Limits, now: datetime, expires_in_s: float
) -> Transaction[Reserved | Refusal]:
    stamp = now.timestamp()
    tenant, day, month = reservation.tenant, f"day:{_day(now)}", f"month:{_month(now)}"
    yield _SWEEP, (stamp, tenant, stamp), "none"
    yield _ENSURE_TOTALS, (tenant, day, tenant, month), "none"
    used = dict((yield _READ_TOTALS, (tenant, day, month), "all"))
    amount = reservation.amount_nanos
    for period, key, limit in (("daily", day, limits.daily), ("monthly", month, limits.monthly)):
        if limit is not None and int(used[key]) + amount > limit:
            return Refusal(tenant, period, limit, int(used[key]), amount)  # type: ignore[arg-type]
    yield _ADD_TO_TOTALS, (amount, tenant, day, month), "none"
    expires_at = stamp + expires_in_s
    yield (
        _INSERT,
        (
            reservation.reservation_id,
            tenant,
            _day(now),
            _month(now),
            reservation.model,
            reservation.workflow_id,
            reservation.step,
            reservation.attempt,
            amount,
            stamp,
            expires_at,
        ),
        "none",
    )
    return Reserved(reservation.reservation_id, expires_at)


def _settle(reservation_id: str, cost_nanos: int, state: Settled, now: datetime) -> Transaction[None]:
    row = yield _SETTLE, (state, cost_nanos, now.timestamp(), reservation_id), "one"
    if row is None:
        return None  # settled already: nothing is counted twice
    tenant, day, month, reserved = row
    # The totals hold the reserved amount (open or lost): replace it by the true cost.
    yield _ADD_TO_TOTALS, (cost_nanos - int(reserved), tenant, f"day:{day}", f"month:{month}"), "none"
    return None


def _rows(raw: list[Any]) -> list[SpendRow]:
    return [
        SpendRow(str(t), str(d), str(m), str(s), bool(r), int(n), int(total or 0))
        for t, d, m, s, r, n, total in raw
    ]


def _unavailable(message: str) -> ApplicationError:
    return ApplicationError(message, type=SPEND_LEDGER_UNAVAILABLE)


def _fetch(cursor: Any, rows: str) -> Any:
    if rows == "one":
        return cursor.fetchone()
    return cursor.fetchall() if rows == "all" else None


def _now() -> datetime:
    return datetime.now(UTC)


class SqliteSpendLedger:
    """A SQLite file, created on first use, shared by the worker processes of one host. Each
    transaction is one `BEGIN IMMEDIATE` in a worker thread: reservations of all workers serialise."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = _now, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self._clock = clock
        self._file = SqliteFile(
            self.path, _SCHEMA, "spend ledger", _unavailable, busy_timeout_s=busy_timeout_s
        )

    async def reserve(
        self, reservation: Reservation, limits: Limits, expires_in_s: float
    ) -> Reserved | Refusal:
        return await self._run(_reserve(reservation, limits, self._clock(), expires_in_s))

    async def renew(self, reservation_id: str, expires_in_s: float) -> None:
        await self._statement(_RENEW, (self._clock().timestamp() + expires_in_s, reservation_id), "none")

    async def settle(self, reservation_id: str, cost_nanos: int, state: Settled) -> None:
        await self._run(_settle(reservation_id, cost_nanos, state, self._clock()))

    async def report(self, since_day: str, tenant: str = "") -> list[SpendRow]:
        params = (self._clock().timestamp(), since_day, tenant, tenant)
        return _rows(await self._statement(_ROWS, params, "all", write=False))

    async def used(self) -> dict[tuple[str, str], int]:
        now = self._clock()
        rows = await self._statement(_USED, (f"day:{_day(now)}", f"month:{_month(now)}"), "all", write=False)
        return {(str(t), str(p)): int(n) for t, p, n in rows}

    async def close(self) -> None:
        await self._file.close()  # the writer's kept connection

    async def _statement(
        self, sql: str, params: tuple[Any, ...], rows: Literal["one", "all", "none"], *, write: bool = True
    ) -> Any:
        def one(connection: sqlite3.Connection) -> Any:
            return _fetch(connection.execute(sql.format(p="?", lock=""), params), rows)

        return await self._file.run(one, write=write)

    async def _run(self, transaction: Transaction[T]) -> T:
        def drive(connection: sqlite3.Connection) -> T:
            answer: Any = None
            try:
                while True:
                    sql, params, rows = transaction.send(answer)
                    answer = _fetch(connection.execute(sql.format(p="?", lock=""), params), rows)
            except StopIteration as done:
                return done.value

        return await self._file.run(drive, write=True)


class PostgresSpendLedger:
    """PostgreSQL, for workers on several hosts: one connection per worker process, one transaction
    at a time on it; the totals rows of a tenant are locked for the length of a reservation."""

    def __init__(self, dsn: str, clock: Callable[[], datetime] = _now):
        self._db = SharedConnection(dsn, _SCHEMA, "spend ledger", _unavailable)
        self._clock = clock

    async def reserve(
        self, reservation: Reservation, limits: Limits, expires_in_s: float
    ) -> Reserved | Refusal:
        return await self._run(_reserve(reservation, limits, self._clock(), expires_in_s))

    async def renew(self, reservation_id: str, expires_in_s: float) -> None:
        params = (self._clock().timestamp() + expires_in_s, reservation_id)
        await self._db.fetch(_RENEW.format(p="%s"), params, rows="none")

    async def settle(self, reservation_id: str, cost_nanos: int, state: Settled) -> None:
        await self._run(_settle(reservation_id, cost_nanos, state, self._clock()))

    async def report(self, since_day: str, tenant: str = "") -> list[SpendRow]:
        params = (self._clock().timestamp(), since_day, tenant, tenant)
        return _rows(await self._db.fetch(_ROWS.format(p="%s"), params, rows="all"))

    async def used(self) -> dict[tuple[str, str], int]:
        now = self._clock()
        params = (f"day:{_day(now)}", f"month:{_month(now)}")
        rows = await self._db.fetch(_USED.format(p="%s"), params, rows="all")
        return {(str(t), str(p)): int(n) for t, p, n in rows}

    async def close(self) -> None:
        await self._db.close()

    async def _run(self, transaction: Transaction[T]) -> T:
        async def drive(connection: Any) -> T:
            answer: Any = None
            async with connection.transaction():
                try:
                    while True:
                        sql, params, rows = transaction.send(answer)
                        cursor = await connection.execute(sql.format(p="%s", lock="FOR UPDATE"), params)
                        if rows == "one":
                            answer = await cursor.fetchone()
                        else:
                            answer = await cursor.fetchall() if rows == "all" else None
                except StopIteration as done:
                    return done.value

        return await self._db.run(drive)


def open_spend_ledger(path: Path, dsn: str | None) -> SpendLedger:
    """The PostgreSQL ledger when a DSN is configured, else the SQLite file."""
    if dsn:
        require_psycopg("SPEND_LEDGER_DSN")
        return PostgresSpendLedger(dsn)
    return SqliteSpendLedger(path)
