"""What a reservation settles to when the provider names its reply's model otherwise than the model
asked for (a gateway's `vendor/model`, an alias): the price table may not know that name, and a
settled cost of $0 would let the tenant's recorded spend fall short of what the provider billed, and
so pass its budget. The call is priced as the model asked for then (the one that was checked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.offline import OfflineProvider
from activities.spend.budgets import BudgetsFile
from activities.spend.guard import TenantSpend
from activities.spend.ledger import SqliteSpendLedger, nanos
from common.contracts.llm import LLMRequest, Message


class GatewayNamedModel(OfflineProvider):
    """The offline model behind a gateway that names the model its own way."""

    async def complete(self, request: Any, model: str, heartbeat: Any) -> Any:
        reply = await super().complete(request, model, heartbeat)
        return reply.model_copy(update={"model": f"gateway-x/{reply.model}"})


async def test_a_reply_under_an_unknown_model_name_settles_at_the_asked_models_price(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.json"
    budgets.write_text(json.dumps({"acme": {"daily_usd": 1}}))
    ledger = SqliteSpendLedger(tmp_path / "spend.sqlite3")
    prices = PriceTable.load()
    llm = LLMActivities(GatewayNamedModel(), prices, spend=TenantSpend(BudgetsFile(budgets), ledger))
    request = LLMRequest(messages=[Message.user_text("hi")], tenant="acme")

    response = await ActivityEnvironment().run(llm.complete, request)

    asked = OfflineProvider().default_model
    assert response.model == f"gateway-x/{asked}" and not prices.is_priced(response.model)
    [row] = await ledger.report("2000-01-01", "acme")
    expected = nanos(prices.quote(asked, response.usage).cost_usd)
    assert expected > 0 and (row.state, row.nanos) == ("settled", expected)
