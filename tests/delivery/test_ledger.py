"""The dedupe ledger's protocol on both backends: a SQLite file and a real PostgreSQL server (a
throwaway cluster started for this module from the machine's PostgreSQL binaries, tests/fakes/postgres.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery.activity import DeliveryActivities
from activities.delivery.ledger import DedupeLedger, PostgresLedger, SqliteLedger
from activities.delivery.models import DeliveryRequest
from common.settings import Settings
from tests.fakes.receivers import SmtpServer

LedgerFactory = Callable[[], DedupeLedger]


@pytest.fixture(params=["sqlite", "postgres"])
def new_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerFactory:
    """Makes ledger instances on one shared store, as separate worker processes would."""
    if request.param == "sqlite":
        path = tmp_path / "state" / "ledger.sqlite3"
        return lambda: SqliteLedger(path)
    dsn = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresLedger(dsn)


@pytest_asyncio.fixture
async def ledger(new_ledger: LedgerFactory) -> AsyncIterator[DedupeLedger]:
    instance = new_ledger()
    try:
        yield instance
    finally:
        await instance.close()


def _key(name: str) -> str:
    # The PostgreSQL cluster lives for the module: unique keys keep the tests independent.
    return f"{name}-{os.urandom(4).hex()}/deliver"


async def test_claim_send_mark_protocol(ledger: DedupeLedger) -> None:
    key = _key("protocol")
    assert await ledger.lookup(key) is None
    first = await ledger.claim(key, "email", "a@example.com")
    assert (first.already_sent, first.attempt) == (False, 1)
    retry = await ledger.claim(key, "email", "a@example.com")  # an attempt that did not confirm
    assert (retry.already_sent, retry.attempt) == (False, 2)
    await ledger.mark_sent(key, "<id@ai-workflows>")
    after = await ledger.claim(key, "email", "a@example.com")
    assert (after.already_sent, after.detail, after.attempt) == (True, "<id@ai-workflows>", 2)
    entry = await ledger.lookup(key)
    assert entry is not None and (entry.status, entry.detail, entry.attempts) == (
        "sent",
        "<id@ai-workflows>",
        2,
    )


async def test_a_new_instance_sees_what_the_last_one_recorded(new_ledger: LedgerFactory) -> None:
    key = _key("restart")
    before = new_ledger()
    await before.claim(key, "email", "a@example.com")
    await before.mark_sent(key, "<x@ai-workflows>")
    await before.close()
    after = new_ledger()
    try:
        claim = await after.claim(key, "email", "a@example.com")
    finally:
        await after.close()
    assert claim.already_sent and claim.detail == "<x@ai-workflows>"


async def test_concurrent_claims_of_one_key_are_counted_not_lost(new_ledger: LedgerFactory) -> None:
    key = _key("race")
    ledgers = [new_ledger() for _ in range(4)]
    try:
        claims = await asyncio.gather(*(ledger.claim(key, "email", "a@example.com") for ledger in ledgers))
    finally:
        for ledger in ledgers:
            await ledger.close()
    assert sorted(claim.attempt for claim in claims) == [1, 2, 3, 4]


async def test_an_unreachable_postgres_is_retryable_and_hides_the_dsn(tmp_path: Path) -> None:
    ledger = PostgresLedger(f"host={tmp_path} dbname=postgres user=ledger password=hunter2 connect_timeout=2")
    with pytest.raises(ApplicationError) as caught:
        await ledger.claim("k/1", "email", "a@example.com")
    await ledger.close()
    assert caught.value.type == "DeliveryUnavailable" and not caught.value.non_retryable
    assert "hunter2" not in caught.value.message


async def test_email_dedupe_through_the_postgres_ledger(
    delivery_settings: Settings, smtp_server: SmtpServer, postgres_dsn: str
) -> None:
    settings = delivery_settings.model_copy(update={"dedupe_ledger_dsn": SecretStr(postgres_dsn)})
    request = DeliveryRequest(
        target="mailto:a@example.com", idempotency_key=_key("pg-email"), subject="s", body="b"
    )
    env = ActivityEnvironment()
    for _ in range(2):  # two worker processes, one after the other, sharing the database
        activities = DeliveryActivities.from_settings(settings)
        assert isinstance(activities.email.ledger, PostgresLedger)
        try:
            receipt = await env.run(activities.deliver, request)
        finally:
            await activities.aclose()
    assert receipt.duplicate
    assert len(smtp_server.messages) == 1
    assert not settings.dedupe_ledger_path.exists()  # the SQLite file was not used


async def test_a_removed_sqlite_file_is_recreated_on_the_next_attempt(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    await ledger.claim("k/1", "email", "a@example.com")
    _remove_everything_in(tmp_path)  # an operator cleaned up the state directory
    with pytest.raises(ApplicationError) as caught:  # retryable: Temporal tries again
        await ledger.claim("k/1", "email", "a@example.com")
    assert caught.value.type == "DeliveryUnavailable"
    claim = await ledger.claim("k/1", "email", "a@example.com")
    assert (claim.already_sent, claim.attempt) == (False, 1)  # forgotten: the documented window


def _remove_everything_in(directory: Path) -> None:
    for leftover in directory.iterdir():
        leftover.unlink()
