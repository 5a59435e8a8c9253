"""A tenant's monthly budget through the shipped agent and the real `llm.complete` reserving in a real
SQLite spend ledger (time-skipping server; the ledger's clock is the one thing set by the test): the
tenant runs out on the 31st of January, stays out for the rest of that day, and runs again on the
1st of February, when the month rolled over; January's spend stays January's."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.offline import OfflineProvider
from activities.spend.budgets import BudgetsFile
from activities.spend.guard import TenantSpend
from activities.spend.ledger import SqliteSpendLedger, nanos
from common.settings import Settings
from tests.workflow.doubles import Recorder
from tests.workflow.support import worker_with
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, AgentResult

MONTHLY_USD = 0.0075  # the worst case with tools is about $0.006: a few cheap steps, then refused


async def run_agent(client: Client, task_queue: str) -> AgentResult:
    return await client.execute_workflow(
        AgentWorkflow.run,
        AgentInput(goal="count forever [loop]", tools=["calculator"], max_iterations=50, tenant="acme"),
        id=f"agent-{uuid.uuid4().hex}",
        task_queue=task_queue,
    )


async def test_a_monthly_budget_refuses_until_the_month_rolls_over(
    ts_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    now = [datetime(2027, 1, 31, 23, 0, tzinfo=UTC)]
    budgets = tmp_path / "budgets.json"
    budgets.write_text(json.dumps({"acme": {"monthly_usd": MONTHLY_USD}}))
    ledger = SqliteSpendLedger(tmp_path / "spend.sqlite3", clock=lambda: now[0])
    llm = LLMActivities(OfflineProvider(), PriceTable.load(), spend=TenantSpend(BudgetsFile(budgets), ledger))
    async with worker_with(ts_client, settings, [llm.complete, *Recorder().activities()]):
        january = await run_agent(ts_client, task_queue)
        now[0] = datetime(2027, 1, 31, 23, 59, tzinfo=UTC)
        still_january = await run_agent(ts_client, task_queue)
        now[0] = datetime(2027, 2, 1, 0, 1, tzinfo=UTC)
        february = await run_agent(ts_client, task_queue)
    assert january.outcome == "tenant_budget_exhausted" and len(january.steps) > 2
    assert "monthly budget $0.007500 would be exceeded" in january.answer
    # Later that day the tenant is still refused (at most a small first call fits what is left).
    assert still_january.outcome == "tenant_budget_exhausted"
    assert len(still_january.steps) < len(january.steps)
    # A new month: the tenant spends again, up to its budget, January's spend left in January.
    assert february.outcome == "tenant_budget_exhausted" and len(february.steps) > 2
    rows = await ledger.report("2027-01-01", "acme")
    by_month: dict[str, int] = {}
    for row in rows:
        by_month[row.day[:7]] = by_month.get(row.day[:7], 0) + row.nanos
    spent = {
        month: sum(nanos(step.cost_usd) for run in runs for step in run.steps)
        for month, runs in (("2027-01", [january, still_january]), ("2027-02", [february]))
    }
    assert by_month == spent and all(total <= nanos(MONTHLY_USD) for total in by_month.values())
