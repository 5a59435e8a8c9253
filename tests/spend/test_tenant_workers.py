"""Tenant budgets through real `python -m worker` processes sharing one spend database (SQLite, the
workers of one host), a priced scripted model, and the dev server:

- six agents of one tenant at once on two workers, with a daily budget worth a few calls: their
  recorded costs add up to no more than the budget and to exactly what the ledger holds, at least one
  ends `tenant_budget_exhausted`, and another tenant's run completes;
- a worker SIGKILLed while it holds a reservation: the run completes on the other worker, and the
  dead reservation is settled `lost` at its amount once it expires, never leaked nor counted twice.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.spend.ledger import Limits, Reservation, Reserved, SpendRow, SqliteSpendLedger, nanos
from tests.chaos.processes import WorkerProcess, clean_environment
from tests.integration.test_scripted_worker import state_in
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, AgentResult

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
USAGE = {"input_tokens": 100, "output_tokens": 100}  # $0.002 a call at $10 per million tokens
PRICES = {"offline-model": {"input": 10.0, "output": 10.0, "cache_write": 10.0, "cache_read": 10.0}}
# About two calls' worst case (~$0.026 each, the provider's tool-use prompt included): a few calls'
# true cost, and room for a killed attempt's lost reservation beside its retry's.
DAILY_USD = 0.06
FIRST_CALL_HOLDS_S = 3.0
SCRIPT = [
    {"name": "slow", "match": {"contains": "slow", "attempt": 1}, "reply": {"text": "late", "delay_s": 120}},
    {
        # Each first call holds its reservation for a while, so the six agents' first calls are in
        # flight together and their worst cases pass the budget whatever the start order (answered
        # at once, the calls could pass one by one, each within it).
        "name": "add",
        "match": {"step_kind": "agent", "turn": 0},
        "reply": {
            "tool_calls": [{"name": "calculator", "input": {"expression": "1 + 1"}}],
            "usage": USAGE,
            "delay_s": FIRST_CALL_HOLDS_S,
        },
    },
    {
        "name": "answer",
        "match": {"step_kind": "agent", "turn": 1},
        "reply": {"text": "It is 2.", "usage": USAGE},
    },
]

StartWorker = Callable[[], WorkerProcess]


@pytest_asyncio.fixture
async def start_worker(
    dev_server_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[StartWorker]:
    """Starts scripted workers sharing one state folder (one host): the spend database, the leases."""
    (tmp_path / "script.json").write_text(json.dumps(SCRIPT))
    (tmp_path / "prices.json").write_text(json.dumps(PRICES))
    (tmp_path / "budgets.json").write_text(json.dumps({"acme": {"daily_usd": DAILY_USD}}))
    env = clean_environment(
        {
            "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "LLM_PROVIDER": "scripted",
            "LLM_SCRIPT_FILE": str(tmp_path / "script.json"),
            "LLM_PRICING_FILE": str(tmp_path / "prices.json"),
            "TENANT_BUDGETS_FILE": str(tmp_path / "budgets.json"),
            "SPEND_LEDGER_PATH": str(tmp_path / "spend.sqlite3"),
            "WORKER_GRACEFUL_SHUTDOWN_S": "0",
            **state_in(tmp_path),
        }
    )
    workers: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        workers.append(WorkerProcess(env, REPO))
        return workers[-1]

    try:
        yield start
    finally:
        for worker in workers:
            await worker.stop()


async def run_agent(client: Client, task_queue: str, goal: str, tenant: str) -> AgentResult:
    return await client.execute_workflow(
        AgentWorkflow.run,
        AgentInput(goal=goal, tools=["calculator"], tenant=tenant),
        id=f"agent-{uuid.uuid4().hex[:10]}",
        task_queue=task_queue,
    )


def recorded(results: list[AgentResult]) -> int:
    return sum(nanos(step.cost_usd) for result in results for step in result.steps)


async def rows(path: Path, tenant: str) -> list[SpendRow]:
    return await SqliteSpendLedger(path).report("2000-01-01", tenant)


async def test_six_agents_of_one_tenant_on_two_workers_never_exceed_its_daily_budget(
    dev_client: Client, start_worker: StartWorker, task_queue: str, tmp_path: Path
) -> None:
    workers = [start_worker(), start_worker()]
    await asyncio.gather(*(worker.wait_ready() for worker in workers))
    runs = [run_agent(dev_client, task_queue, f"add one and one ({n})", "acme") for n in range(6)]
    *results, other = await asyncio.gather(*runs, run_agent(dev_client, task_queue, "add", "globex"))
    outcomes = [result.outcome for result in results]
    assert "tenant_budget_exhausted" in outcomes, outcomes
    assert "completed" in outcomes, outcomes
    assert other.outcome == "completed" and other.tenant == "globex"
    spent = recorded(results)
    ledger = await rows(tmp_path / "spend.sqlite3", "acme")
    # What the runs recorded is exactly what the ledger settled, and never more than the budget.
    assert spent == sum(row.nanos for row in ledger) <= nanos(DAILY_USD)
    assert {row.state for row in ledger} == {"settled"}  # nothing lost, nothing still reserved
    exhausted = next(result for result in results if result.outcome == "tenant_budget_exhausted")
    assert "tenant 'acme': daily budget $0.060000 would be exceeded" in exhausted.answer
    assert await rows(tmp_path / "spend.sqlite3", "globex") == []  # no budget: nothing reserved


async def test_a_worker_killed_holding_a_reservation_leaks_nothing(
    dev_client: Client, start_worker: StartWorker, task_queue: str, tmp_path: Path
) -> None:
    database = tmp_path / "spend.sqlite3"
    doomed = start_worker()
    await doomed.wait_ready()
    run = asyncio.ensure_future(run_agent(dev_client, task_queue, "slow: add one and one", "acme"))
    # The first attempt reserves, then the scripted model keeps it waiting.
    held = await until(
        lambda: rows(database, "acme"), lambda found: any(r.state == "reserved" for r in found)
    )
    reserved = next(row.nanos for row in held if row.state == "reserved")
    survivor = start_worker()
    await survivor.wait_ready()
    doomed.kill()  # SIGKILL: no goodbye, the reservation stays behind
    await doomed.wait_dead()
    result = await asyncio.wait_for(run, timeout=120)
    assert result.outcome == "completed"
    # The dead attempt's reservation expires (the heartbeat timeout, 10 s); the tenant's next
    # reservation settles it as lost, at its reserved amount.
    ledger = SqliteSpendLedger(database)

    async def sweep() -> list[SpendRow]:
        probe = await ledger.reserve(
            Reservation(uuid.uuid4().hex, "acme", "probe", 0), Limits(daily=10**12), 1
        )
        assert isinstance(probe, Reserved)
        await ledger.settle(probe.reservation_id, 0, "settled")
        return await ledger.report("2000-01-01", "acme")

    final = await until(sweep, lambda found: any(r.state == "lost" for r in found), timeout_s=60)
    lost = [row for row in final if row.state == "lost"]
    assert [(row.attempts, row.nanos) for row in lost] == [(1, reserved)]
    assert not any(row.state == "reserved" for row in final)
    # Counted once each: the lost reservation plus what the run recorded (its retry and next step).
    assert sum(row.nanos for row in final) == reserved + recorded([result])
    totals = await ledger.used()
    assert sum(
        n for (tenant, period), n in totals.items() if tenant == "acme" and period.startswith("day:")
    ) == (reserved + recorded([result]))


async def until(
    read: Callable[[], Awaitable[list[SpendRow]]],
    condition: Callable[[list[SpendRow]], bool],
    timeout_s: float = 60.0,
) -> list[SpendRow]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        found = await read()
        if condition(found):
            return found
        assert loop.time() < deadline, f"never matched; last: {found}"
        await asyncio.sleep(0.2)
