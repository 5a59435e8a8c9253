"""What a reservation settles to when the provider names its reply's model otherwise than the model
asked for (a gateway's `vendor/model`, an alias): the price table may not know that name, and a
settled cost of $0 would let the tenant's recorded spend fall short of what the provider billed, and
so pass its budget. The call is priced as the model asked for then (the one that was checked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.llm.activity import LLMActivities
from activities.llm.factory import build_provider
from activities.llm.models import Usage
from activities.llm.pricing import PriceTable
from activities.llm.providers.offline import OfflineProvider
from activities.spend.budgets import BudgetsFile
from activities.spend.guard import TenantSpend, worst_case_usd
from activities.spend.ledger import SqliteSpendLedger, nanos
from common.contracts.llm import LLMRequest, Message, SpentUsage, spent_usage_of
from common.settings import Settings
from tests.fakes.openai_server import OpenAIServer
from tests.fakes.scripted_server import Fail, Reply, Truncate


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


async def test_an_openai_stream_cut_before_its_usage_settles_at_the_reservation(
    tmp_path: Path, openai_settings: Settings, openai_server: OpenAIServer
) -> None:
    # An OpenAI-compatible stream reports usage in its last chunk only: cut after its first text, the
    # attempt saw no usage, yet the provider billed the input it read and the text it wrote. What it
    # cost is unknown, so the reservation (its worst case) is what it settles at, never $0.
    prices_file = tmp_path / "prices.json"
    prices_file.write_text(
        json.dumps({"llama3.1": {"input": 0.5, "output": 1.5, "cache_write": 0.0, "cache_read": 0.25}})
    )
    budgets = tmp_path / "budgets.json"
    budgets.write_text(json.dumps({"acme": {"daily_usd": 1}}))
    ledger = SqliteSpendLedger(tmp_path / "spend.sqlite3")
    prices = PriceTable.load(prices_file)
    spend = TenantSpend(BudgetsFile(budgets), ledger)
    llm = LLMActivities(build_provider(openai_settings), prices, spend=spend)
    usage = Usage(input_tokens=800, output_tokens=40)
    openai_server.script(
        Truncate(after_events=2, reply=Reply.text("a partial answer", usage=usage)), step="cut"
    )
    openai_server.script(Fail(status=500, message="down"), step="refused")

    spent: list[SpentUsage | None] = []

    async def failed_attempts(step: str) -> list[tuple[str, int, int]]:
        request = LLMRequest(messages=[Message.user_text(f"hi {step}")], tenant="acme", step=step)
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(llm.complete, request)
        spent.append(spent_usage_of(raised.value))
        return [(row.state, row.attempts, row.nanos) for row in await ledger.report("2000-01-01", "acme")]

    worst = nanos(
        worst_case_usd(prices, LLMRequest(messages=[Message.user_text("hi cut")]), "llama3.1"), round_up=True
    )
    assert await failed_attempts("cut") == [("failed", 1, worst)]
    # A call the server refused before any output cost nothing: it adds an attempt, not money.
    assert await failed_attempts("refused") == [("failed", 2, worst)]
    # The run counts what the ledger holds: the cut attempt at its worst case (its tokens unknown),
    # the refused one at nothing.
    cut, refused = spent
    assert cut is not None and nanos(cut.cost_usd) == worst and cut.usage == Usage() and cut.attempts == 1
    assert refused is not None and refused.cost_usd == 0.0 and refused.attempts == 1
