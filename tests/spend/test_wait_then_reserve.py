"""A call that waits for its model's shared rate limit holds none of its tenant's budget while it
waits: the reservation is taken once its turn came, so a tight budget is not tied up by calls that
are only queued. The real `llm.complete` with a real limiter and ledger on one SQLite file."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.offline import OfflineProvider
from activities.spend.budgets import BudgetsFile
from activities.spend.guard import TenantSpend
from activities.spend.ledger import SqliteSpendLedger
from activities.spend.rate_limit import RateLimiter, SqliteBuckets
from common.contracts.llm import LLMRequest, Message
from common.rate_limits import parse_rate_limits


class NotingModel(OfflineProvider):
    """The offline model, noting when the call reached it (the wait is over)."""

    called = False

    async def complete(self, request: Any, model: str, heartbeat: Any) -> Any:
        self.called = True
        return await super().complete(request, model, heartbeat)


def reservations(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
        if "spend_reservations" not in tables:  # made by the first reservation
            return []
        return [state for (state,) in connection.execute("SELECT state FROM spend_reservations")]


async def test_a_call_waiting_its_turn_holds_no_reservation(tmp_path: Path) -> None:
    database = tmp_path / "spend.sqlite3"
    model = f"offline-{uuid.uuid4().hex[:8]}"
    limits = parse_rate_limits(f'{{"offline/{model}": {{"rpm": 30, "burst": 1}}}}')  # a slot every 2 s
    limiter = RateLimiter(limits, SqliteBuckets(database))
    limit = limiter.limit_for("offline", model)
    assert limit is not None and (await limiter.try_admit(limit, 1)).admitted  # the next call waits
    budgets = tmp_path / "budgets.json"
    budgets.write_text(json.dumps({"acme": {"daily_usd": 1}}))
    spend = TenantSpend(BudgetsFile(budgets), SqliteSpendLedger(database))
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({model: {"input": 1.0, "output": 1.0, "cache_write": 1.0, "cache_read": 1.0}})
    )
    provider = NotingModel()
    llm = LLMActivities(provider, PriceTable.load(prices), rate_limiter=limiter, spend=spend)

    seen_while_waiting: list[list[str]] = []
    environment = ActivityEnvironment()

    def heartbeat(*_: Any) -> None:  # the wait heartbeats
        if not provider.called:
            seen_while_waiting.append(reservations(database))

    environment.on_heartbeat = heartbeat
    request = LLMRequest(model=model, messages=[Message.user_text("hi")], tenant="acme")
    response = await environment.run(llm.complete, request)
    assert response.text()
    assert seen_while_waiting, "the call did not wait for the limit"
    assert all(states == [] for states in seen_while_waiting), seen_while_waiting
    assert reservations(database) == ["settled"]
