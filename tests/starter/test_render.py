from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.llm.models import Usage
from activities.llm.pricing import PriceTable
from starter import render
from starter.watch import PhaseChanged, RunEnded, StepCompleted
from workflows.models import (
    AgentResult,
    ApprovalRecord,
    PendingApproval,
    ResearchResult,
    StepRecord,
    UsageTotals,
    WorkflowStatus,
)

STEPS = [
    StepRecord(
        step="plan",
        kind="llm",
        model="m-1",
        input_tokens=120,
        output_tokens=30,
        cache_read_tokens=100,
        cache_write_tokens=40,
        latency_ms=12.4,
        cost_usd=0.0012,
    ),
    StepRecord(
        step="research 1",
        kind="llm",
        model="m-1",
        input_tokens=80,
        output_tokens=200,
        latency_ms=40.6,
        cost_usd=0.0031,
        ok=False,
    ),
]
PENDING = PendingApproval(
    action="deliver the report to https://h.example/hook",
    action_hash="0123456789abcdef" * 4,
    requested_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
    deadline=datetime(2025, 3, 1, 9, 0, tzinfo=UTC) + timedelta(hours=24),
)


def test_steps_table_has_a_row_per_step_and_totals() -> None:
    lines = render.steps_table(STEPS).splitlines()
    assert lines[0].split() == ["step", "model", "in", "out", "cache-read", "cache-write", "latency", "cost"]
    assert lines[2].split() == ["plan", "m-1", "120", "30", "100", "40", "12", "ms", "$0.001200"]
    assert lines[3].split()[:3] == ["research", "1", "(failed)"]
    totals = lines[-1].split()
    assert totals[:3] == ["total", "(2", "steps)"]
    assert totals[3:8] == [str(120 + 80), str(30 + 200), "100", "40", str(round(12.4 + 40.6))]
    assert totals[-1] == render.money(0.0012 + 0.0031)
    assert len({len(line) for line in lines}) == 1  # numbers right-aligned: every row ends in the cost column


def test_a_rows_cost_follows_from_its_columns() -> None:
    price = PriceTable.load().price_for("claude-haiku-4-5")
    assert price is not None
    usage = Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=5000, cache_write_tokens=800)
    step = StepRecord(
        step="plan",
        kind="llm",
        model="claude-haiku-4-5",
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cost_usd=PriceTable.load().cost("claude-haiku-4-5", usage),
    )
    row = render.steps_table([step]).splitlines()[2].split()
    fresh, out, read, write = (int(cell) for cell in row[2:6])
    from_columns = (
        fresh * price.input + out * price.output + read * price.cache_read + write * price.cache_write
    ) / 1e6
    assert row[-1] == render.money(from_columns) == render.money(step.cost_usd)


def test_status_totals_come_from_the_run_not_the_listed_rows() -> None:
    # E.g. a parent whose child agent is still running: its spend is in the totals, not in a row.
    status = WorkflowStatus(
        phase="researching",
        usage=UsageTotals(input_tokens=5000, output_tokens=700, cache_read_tokens=300, cache_write_tokens=90),
        cost_usd=0.25,
        completed_steps=STEPS,
    )
    totals = render.status_text("research-2", status).splitlines()[-1].split()
    assert totals[3:7] == ["5000", "700", "300", "90"]
    assert totals[-1] == "$0.250000"


def test_status_text_shows_phase_pending_usage_and_table() -> None:
    status = WorkflowStatus(
        phase="awaiting_approval",
        iteration=3,
        pending_approval=PENDING,
        usage=UsageTotals(input_tokens=200, output_tokens=230, cache_read_tokens=100),
        cost_usd=0.0043,
        completed_steps=STEPS,
    )
    text = render.status_text("research-1", status)
    assert text.splitlines()[0] == "research-1  phase: awaiting_approval  iteration: 3"
    assert "waiting for approval of: deliver the report" in text and "hash 0123456789ab" in text
    assert "2025-03-02 09:00:00 UTC" in text
    assert "cost $0.004300" in text and "total (2 steps)" in text
    assert "no pending approval" in render.status_text("x", WorkflowStatus(phase="completed"))


def test_status_says_when_decisions_are_not_authenticated() -> None:
    """Any client of the namespace can send `approve` as any listed approver: `status` says so
    wherever a decision is asked for, and stops saying it once decisions prove who made them."""
    waiting = WorkflowStatus(phase="awaiting_approval", pending_approval=PENDING)
    assert waiting.decisions_authenticated is False
    assert "decisions are not authenticated" in render.status_text("x", waiting)
    proven = waiting.model_copy(update={"decisions_authenticated": True})
    assert "not authenticated" not in render.status_text("x", proven)


def test_event_lines() -> None:
    assert render.event_line(PhaseChanged(phase="planning")) == "phase: planning"
    assert "waiting for approval" in render.event_line(
        PhaseChanged(phase="awaiting_approval", pending_approval=PENDING)
    )
    assert render.event_line(StepCompleted(step=STEPS[0])).startswith(
        "  done: plan [llm m-1] 120 in / 30 out"
    )
    assert render.event_line(StepCompleted(step=STEPS[1])).startswith("  FAILED: research 1")
    assert render.event_line(RunEnded(status="TIMED_OUT")) == "run ended: timed_out"


def test_result_texts() -> None:
    research = ResearchResult(
        topic="tides",
        report="The report.",
        subtopics=["a", "b"],
        failed_subtopics=["b"],
        steps=STEPS,
        cost_usd=0.5,
    )
    text = render.result_text(research)
    assert text.startswith("# tides\n\nThe report.")
    assert "failed subtopics: b" in text and "steps: 2" in text and "cost: $0.500000" in text
    agent = AgentResult(goal="g", answer="42", outcome="max_iterations", iterations=10)
    text = render.result_text(agent)
    assert "\n42\n" in text and "outcome: max_iterations  iterations: 10" in text


def test_decision_lines() -> None:
    recorded = ApprovalRecord(
        action="deliver",
        action_hash="ab" * 32,
        approver="ana",
        approved=True,
        comment="ship it",
        decided_at=datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
        via="update",
    )
    assert render.decision_line("r-1", recorded, approved=True) == (
        "r-1: approved by ana at 2025-03-01 10:00:00 UTC via update: ship it"
    )
    topped_up = recorded.model_copy(update={"budget_usd": 2.5, "comment": ""})
    assert render.decision_line("r-1", topped_up, approved=True).endswith("via update, budget now $2.500000")
    assert render.decision_line("r-1", None, approved=False).startswith("r-1: rejection sent as a signal")
