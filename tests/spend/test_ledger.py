"""The tenant reservation ledger on both backends: a SQLite file and a real PostgreSQL server (a
throwaway cluster for this module, tests/fakes/postgres.py). Reservations from several processes at
once never exceed a limit; a dead worker's reservation is settled as lost, never leaked or counted
twice; days and months roll over (an injected clock)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import pytest
import pytest_asyncio

from activities.spend.ledger import (
    Limits,
    PostgresSpendLedger,
    Refusal,
    Reservation,
    Reserved,
    SpendLedger,
    SqliteSpendLedger,
)

pytestmark = pytest.mark.timeout(120)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


LedgerFactory = Callable[[Clock], SpendLedger]


def open_ledger(where: str, clock: Callable[[], datetime] | None = None) -> SpendLedger:
    """`where`: a SQLite path, or `postgres:` and a DSN (usable in a child process too)."""
    kwargs = {"clock": clock} if clock is not None else {}
    if where.startswith("postgres:"):
        return PostgresSpendLedger(where.removeprefix("postgres:"), **kwargs)
    return SqliteSpendLedger(Path(where), **kwargs)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state" / "spend.sqlite3")
    return "postgres:" + str(request.getfixturevalue("postgres_dsn"))


@pytest_asyncio.fixture
async def clock() -> Clock:
    return Clock(datetime(2026, 12, 31, 23, 0, tzinfo=UTC))


@pytest_asyncio.fixture
async def ledger(store: str, clock: Clock) -> AsyncIterator[SpendLedger]:
    instance = open_ledger(store, clock)
    try:
        yield instance
    finally:
        await instance.close()


def tenant_name() -> str:
    # The PostgreSQL cluster lives for the module: a tenant per test keeps the tests independent.
    return f"t-{os.urandom(4).hex()}"


def ask(tenant: str, amount: int, step: str = "llm 1") -> Reservation:
    return Reservation(uuid.uuid4().hex, tenant, "priced-model", amount, "wf", step, 1)


async def used(ledger: SpendLedger, tenant: str, clock: Clock) -> tuple[int, int]:
    totals = await ledger.used()
    day, month = clock.now.strftime("%Y-%m-%d"), clock.now.strftime("%Y-%m")
    return totals.get((tenant, f"day:{day}"), 0), totals.get((tenant, f"month:{month}"), 0)


async def test_reserve_then_settle_replaces_the_reservation_by_the_true_cost(
    ledger: SpendLedger, clock: Clock
) -> None:
    tenant = tenant_name()
    first = await ledger.reserve(ask(tenant, 600), Limits(daily=1000), 30)
    assert isinstance(first, Reserved)
    assert await used(ledger, tenant, clock) == (600, 600)
    # The reservation counts: a second call that would go over is refused while the first runs.
    refused = await ledger.reserve(ask(tenant, 500), Limits(daily=1000), 30)
    assert isinstance(refused, Refusal)
    assert (refused.period, refused.limit_nanos, refused.used_nanos, refused.wanted_nanos) == (
        "daily",
        1000,
        600,
        500,
    )
    assert f"tenant {tenant!r}: daily budget $0.000001" in refused.message()
    await ledger.settle(first.reservation_id, 250, "settled")
    assert await used(ledger, tenant, clock) == (250, 250)
    # Settling again (a retried settle) changes nothing: nothing is counted twice.
    await ledger.settle(first.reservation_id, 999, "settled")
    assert await used(ledger, tenant, clock) == (250, 250)
    second = await ledger.reserve(ask(tenant, 500), Limits(daily=1000), 30)
    assert isinstance(second, Reserved)
    await ledger.settle(second.reservation_id, 120, "failed")  # a failed attempt was billed too
    rows = await ledger.report("2026-12-01", tenant)
    shown = {(row.state, row.attempts, row.nanos) for row in rows}
    assert shown == {("settled", 1, 250), ("failed", 1, 120)}


async def test_the_monthly_limit_holds_across_days_and_a_new_month_starts_from_zero(
    ledger: SpendLedger, clock: Clock
) -> None:
    tenant = tenant_name()
    limits = Limits(daily=700, monthly=1000)
    first = await ledger.reserve(ask(tenant, 600), limits, 30)
    assert isinstance(first, Reserved)
    await ledger.settle(first.reservation_id, 600, "settled")
    assert isinstance(await ledger.reserve(ask(tenant, 200), limits, 30), Refusal)  # daily
    clock.now += timedelta(minutes=30)  # 23:30: still the same day
    assert isinstance(await ledger.reserve(ask(tenant, 101), limits, 30), Refusal)
    clock.now += timedelta(hours=1)  # the next day, 2027-01-01: also a new month
    assert await used(ledger, tenant, clock) == (0, 0)
    again = await ledger.reserve(ask(tenant, 700), limits, 30)
    assert isinstance(again, Reserved)
    await ledger.settle(again.reservation_id, 700, "settled")
    clock.now += timedelta(days=1)  # 2027-01-02: a new day of the same month
    refused = await ledger.reserve(ask(tenant, 400), limits, 30)
    assert isinstance(refused, Refusal)
    assert (refused.period, refused.used_nanos) == ("monthly", 700)
    assert "monthly budget" in refused.message() and "this month" in refused.message()
    assert isinstance(await ledger.reserve(ask(tenant, 300), limits, 30), Reserved)


async def test_a_settlement_after_midnight_counts_on_the_day_the_call_was_reserved(
    ledger: SpendLedger, clock: Clock
) -> None:
    tenant = tenant_name()
    held = await ledger.reserve(ask(tenant, 500), Limits(daily=1000), 3600)
    assert isinstance(held, Reserved)
    clock.now += timedelta(hours=2)  # settled on 2027-01-01
    await ledger.settle(held.reservation_id, 200, "settled")
    assert await used(ledger, tenant, clock) == (0, 0)
    clock.now -= timedelta(hours=2)
    assert await used(ledger, tenant, clock) == (200, 200)


async def test_an_expired_reservation_is_settled_lost_at_its_amount_never_leaked_nor_counted_twice(
    ledger: SpendLedger, clock: Clock
) -> None:
    tenant = tenant_name()
    dead = await ledger.reserve(ask(tenant, 400), Limits(daily=1000), 10)  # its worker dies
    assert isinstance(dead, Reserved)
    live = await ledger.reserve(ask(tenant, 300), Limits(daily=1000), 60)
    assert isinstance(live, Reserved)
    await ledger.renew(live.reservation_id, 60)
    clock.now += timedelta(seconds=11)
    rows = await ledger.report("2026-12-31", tenant)
    assert {(row.state, row.nanos) for row in rows} == {("lost", 400), ("reserved", 300)}
    # The next reservation sweeps it: counted at its reserved amount (the provider may have billed).
    retry = await ledger.reserve(ask(tenant, 300), Limits(daily=1000), 60)
    assert isinstance(retry, Reserved)
    assert await used(ledger, tenant, clock) == (1000, 1000)
    assert isinstance(await ledger.reserve(ask(tenant, 1), Limits(daily=1000), 60), Refusal)
    # A worker that was only slow settles late: its true cost replaces the lost amount, once.
    await ledger.settle(dead.reservation_id, 150, "settled")
    await ledger.settle(dead.reservation_id, 150, "settled")
    assert await used(ledger, tenant, clock) == (750, 750)


def contend(where: str, tenant: str, calls: int, amount: int, limit: int) -> tuple[int, int]:
    """One worker process: `calls` reservations, each settled to its full amount when granted."""

    async def run() -> tuple[int, int]:
        ledger = open_ledger(where)
        granted = refused = 0
        try:
            for number in range(calls):
                outcome = await ledger.reserve(ask(tenant, amount, f"llm {number}"), Limits(daily=limit), 30)
                if isinstance(outcome, Refusal):
                    refused += 1
                    continue
                granted += 1
                await ledger.settle(outcome.reservation_id, amount, "settled")
        finally:
            await ledger.close()
        return granted, refused

    return asyncio.run(run())


async def test_reservations_from_several_processes_at_once_never_exceed_the_limit(store: str) -> None:
    tenant, amount, limit = tenant_name(), 7, 7 * 25 + 3  # room for exactly 25 calls
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=4, mp_context=get_context("spawn")) as pool:
        outcomes = await asyncio.gather(
            *(loop.run_in_executor(pool, contend, store, tenant, 15, amount, limit) for _ in range(4))
        )
    granted = sum(g for g, _ in outcomes)
    assert granted == 25, outcomes  # 60 asked: every one granted while there was room, none after
    assert sum(r for _, r in outcomes) == 35
    ledger = open_ledger(store)
    try:
        rows = await ledger.report("2000-01-01", tenant)
        assert sum(row.nanos for row in rows) == 25 * amount
        assert sum(total for (who, _), total in (await ledger.used()).items() if who == tenant) in (
            0,
            2 * 25 * amount,
        )
    finally:
        await ledger.close()
