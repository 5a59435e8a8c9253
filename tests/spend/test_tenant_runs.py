"""Tenant budgets in the shipped workflows, on the time-skipping server with the real `llm.complete`
(offline model, priced) reserving in a real SQLite spend ledger: a refused call ends the run with
outcome `tenant_budget_exhausted` and its one-line reason, the recorded costs are exactly what the
ledger holds, another tenant goes on, approvers may let the step be tried again, and an unpriced
model under a tenant budget fails before any call."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from activities.llm.activity import LLMActivities
from activities.llm.error_types import TENANT_BUDGET_EXHAUSTED, UNPRICED_MODEL
from activities.llm.pricing import PriceTable
from activities.llm.providers.offline import OfflineProvider
from activities.spend.budgets import BudgetsFile
from activities.spend.guard import TenantSpend
from activities.spend.ledger import SqliteSpendLedger, nanos
from common.contracts.llm import LLMRequest, Message
from common.search_attributes import TENANT
from common.settings import Settings
from tests.workflow.doubles import Recorder
from tests.workflow.support import pending_approval, worker_with
from workflows.agent import AgentWorkflow
from workflows.kit import CloseRequest, SendRequest, SessionInput, TranscriptPage, TranscriptQuery
from workflows.models import AgentInput, AgentResult, ApprovalDecision, ResearchInput, WorkflowStatus
from workflows.research import ResearchWorkflow
from workflows.session import SessionWorkflow

# The offline model's worst case with max_tokens 1024 and tools is about $0.006 (output at $5/M, the
# provider's tool-use prompt): this budget lets an agent run a few cheap steps (~$0.0003 each), then
# refuses the next one.
BUDGET_USD = 0.0075
# A research run's calls offer no tools: their worst case is about $0.0052, and this budget refuses
# one of its subtopics well before the last.
RESEARCH_BUDGET_USD = 0.0065


def priced_llm(
    tmp_path: Path, budgets: dict[str, dict[str, float]]
) -> tuple[LLMActivities, SqliteSpendLedger]:
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps(budgets))
    ledger = SqliteSpendLedger(tmp_path / "spend.sqlite3")
    spend = TenantSpend(BudgetsFile(path), ledger)
    return LLMActivities(OfflineProvider(), PriceTable.load(), spend=spend), ledger


async def ledger_total(ledger: SqliteSpendLedger, tenant: str) -> int:
    return sum(row.nanos for row in await ledger.report("2000-01-01", tenant))


def recorded_nanos(result: AgentResult) -> int:
    return sum(nanos(step.cost_usd) for step in result.steps)


async def test_an_agent_whose_tenant_is_out_of_budget_ends_with_the_reason_and_another_tenant_goes_on(
    ts_client: Client, settings: Settings, task_queue: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="temporalio.activity")
    llm, ledger = priced_llm(tmp_path, {"acme": {"daily_usd": BUDGET_USD}})
    recorder = Recorder()
    async with worker_with(ts_client, settings, [llm.complete, *recorder.activities()]):
        acme = await ts_client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="count forever [loop]", tools=["calculator"], max_iterations=50, tenant="acme"),
            id=f"agent-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        other = await ts_client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="count forever [loop]", tools=["calculator"], max_iterations=4, tenant="globex"),
            id=f"agent-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        result = await acme.result()
        other_result = await other.result()
        status = await acme.query(AgentWorkflow.status)
        attributes = (await acme.describe()).typed_search_attributes
    assert result.outcome == "tenant_budget_exhausted" and result.tenant == "acme"
    assert 2 < result.iterations < 50
    reason = status.stopped_because or ""
    assert reason.startswith("tenant 'acme': daily budget $0.007500 would be exceeded: $0.00")
    assert "\n" not in reason and reason in result.answer
    assert status.tenant == "acme" and status.outcome == "tenant_budget_exhausted"
    assert attributes.get(TENANT) == "acme"
    # The refused step is recorded as a failed model call that cost nothing.
    last = result.steps[-1]
    assert (last.kind, last.ok, last.cost_usd) == ("llm", False, 0.0)
    # What the run recorded is exactly what the ledger holds, and within the budget.
    assert recorded_nanos(result) == await ledger_total(ledger, "acme") <= nanos(BUDGET_USD)
    assert other_result.outcome == "max_iterations" and other_result.tenant == "globex"
    assert await ledger_total(ledger, "globex") == 0  # no budget: nothing reserved
    # A refusal is the tenant's rule at work, not the worker failing: no warning with a traceback.
    assert not [r.getMessage() for r in caplog.records if "'activity_type': 'llm.complete'" in r.getMessage()]


async def test_approvers_may_let_a_refused_step_be_tried_again_once_the_limit_was_raised(
    ts_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    llm, ledger = priced_llm(tmp_path, {"acme": {"daily_usd": BUDGET_USD}})
    recorder = Recorder()
    params = AgentInput(
        goal="count forever [loop]",
        tools=["calculator"],
        max_iterations=8,
        tenant="acme",
        approvers=["alice"],
        pause_on_budget=True,
    )
    async with worker_with(ts_client, settings, [llm.complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
        )
        status: WorkflowStatus = await pending_approval(handle)
        assert status.pending_approval is not None
        assert status.pending_approval.action.startswith("tenant 'acme': daily budget $0.007500 would be")
        # The operator raises the limit; the approver lets the step run again.
        (tmp_path / "budgets.json").write_text(json.dumps({"acme": {"daily_usd": 1.0}}))
        await handle.execute_update(AgentWorkflow.approve, ApprovalDecision(approver="alice", approved=True))
        result = await handle.result()
    assert result.outcome == "max_iterations" and result.iterations == 8
    assert recorded_nanos(result) == await ledger_total(ledger, "acme")


async def test_a_research_run_stops_fanning_out_and_reports_what_it_has(
    ts_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    llm, ledger = priced_llm(tmp_path, {"acme": {"daily_usd": RESEARCH_BUDGET_USD}})
    params = ResearchInput(topic="tide pools", max_subtopics=8, max_parallel=1, tenant="acme")
    async with worker_with(ts_client, settings, [llm.complete]):
        result = await ts_client.execute_workflow(
            ResearchWorkflow.run, params, id=f"research-{uuid.uuid4().hex}", task_queue=task_queue
        )
    assert result.outcome == "tenant_budget_exhausted" and result.tenant == "acme"
    assert result.report.startswith("tenant 'acme': daily budget $0.006500 would be exceeded")
    assert result.skipped_subtopics  # no subtopic starts once the tenant is out of budget
    recorded = sum(nanos(step.cost_usd) for step in result.steps)
    assert recorded == await ledger_total(ledger, "acme") <= nanos(RESEARCH_BUDGET_USD)


async def test_an_unpriced_model_under_a_tenant_budget_fails_before_the_call(tmp_path: Path) -> None:
    llm, ledger = priced_llm(tmp_path, {"acme": {"daily_usd": 1}})
    request = LLMRequest(model="no-such-model-anywhere", messages=[Message.user_text("hi")], tenant="acme")
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(llm.complete, request)
    assert raised.value.type == UNPRICED_MODEL and "no-such-model-anywhere" in raised.value.message
    assert await ledger_total(ledger, "acme") == 0
    # The same model for a tenant without a budget is not stopped by it (the offline model answers).
    free = request.model_copy(update={"tenant": "globex", "model": None})
    assert (await ActivityEnvironment().run(llm.complete, free)).text()


async def test_a_refusal_is_non_retryable_and_names_tenant_limit_and_spend(tmp_path: Path) -> None:
    llm, _ = priced_llm(tmp_path, {"acme": {"monthly_usd": 0.001}})
    request = LLMRequest(messages=[Message.user_text("hi")], tenant="acme")
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(llm.complete, request)
    assert raised.value.type == TENANT_BUDGET_EXHAUSTED and raised.value.non_retryable
    # Benign: the SDK logs it at debug level and counts it in no failure metric.
    assert raised.value.category == ApplicationErrorCategory.BENIGN
    assert raised.value.message.startswith(
        "tenant 'acme': monthly budget $0.001000 would be exceeded: $0.000000 spent or reserved this month"
    )


async def test_a_session_ends_the_turn_with_the_reason_and_stays_open(
    ts_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    llm, _ = priced_llm(tmp_path, {"acme": {"daily_usd": 0.001}})  # less than one call's worst case
    async with worker_with(ts_client, settings, [llm.complete]):
        handle = await ts_client.start_workflow(
            SessionWorkflow.run,
            SessionInput(tenant="acme", first_message="hello"),
            id=f"session-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        page = await until(handle, lambda p: any(e.turn_outcome for e in p.entries))
        ended = next(e for e in page.entries if e.turn_outcome)
        assert ended.turn_outcome == "tenant_budget_exhausted"
        assert "tenant 'acme': daily budget $0.001000 would be exceeded" in ended.text
        status = await handle.query(SessionWorkflow.status)
        assert status.phase == "idle" and (status.stopped_because or "").startswith("tenant 'acme'")
        # The operator raises the limit: the next message is answered, the session was never closed.
        (tmp_path / "budgets.json").write_text(json.dumps({"acme": {"daily_usd": 1.0}}))
        await handle.execute_update(SessionWorkflow.send, SendRequest(text="again"))
        page = await until(handle, lambda p: any(e.turn_outcome == "answered" for e in p.entries))
        assert (await handle.query(SessionWorkflow.status)).stopped_because is None
        await handle.execute_update(SessionWorkflow.close, CloseRequest())
        result = await handle.result()
    assert result.tenant == "acme" and result.outcome == "closed"


async def until(handle: WorkflowHandle[Any, Any], condition: Any, timeout_s: float = 30.0) -> TranscriptPage:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        page = await handle.query("transcript", TranscriptQuery(), result_type=TranscriptPage)
        if condition(page):
            return page
        assert loop.time() < deadline, f"the transcript never matched: {page.model_dump_json()[:800]}"
        await asyncio.sleep(0.05)
