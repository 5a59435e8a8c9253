"""Scoring a case (starter/eval/scoring.py) and its report (starter/eval/report.py): the default checks,
what a workflow's `EvalChecks` narrows or adds, grounded answers, and an HTML report in which text
from a run (a model's answer, a tool argument) is escaped, never markup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.contracts.evals import RecordedModelCall, RecordedRun, RecordedToolCall
from common.contracts.llm import LLMResponse, ToolUseBlock, Usage
from starter.eval.report import EvalCaseReport, EvalReport, RunSide, write_reports
from starter.eval.scoring import differences
from workflows.kit import EvalChecks


def run(
    *calls: tuple[str, dict[str, Any]], outcome: str = "completed", result: dict[str, Any] | None = None
) -> RecordedRun:
    reply = LLMResponse(
        content=[ToolUseBlock(id=f"t{i}", name=name, input=args) for i, (name, args) in enumerate(calls)],
        stop_reason="tool_use",
        usage=Usage(),
        model="m",
        provider="scripted",
        latency_ms=1.0,
        cost_usd=0.001,
    )
    recorded = RecordedModelCall(
        step="llm step 1",
        reply=reply,
        tool_calls=[RecordedToolCall(name=name, arguments=args) for name, args in calls],
    )
    return RecordedRun(
        workflow_type="TriageWorkflow",
        workflow_id="triage-1",
        run_id="r1",
        status="completed",
        outcome=outcome,
        result={"outcome": outcome, **(result or {})},
        model_calls=[recorded],
    )


def test_by_default_the_outcome_and_every_argument_of_every_call_count() -> None:
    original = run(("send_reply", {"to": "ana@example.com", "text": "Hello Ana"}))
    reworded = run(("send_reply", {"to": "ana@example.com", "text": "Hi Ana"}))
    assert differences(original, original, EvalChecks()) == []
    [found] = differences(original, reworded, EvalChecks())
    assert (found.check, found.detail) == ("tool_calls", 'call 1 send_reply: text: "Hello Ana" -> "Hi Ana"')
    ended = run(("send_reply", {"to": "ana@example.com", "text": "Hello Ana"}), outcome="max_iterations")
    assert [d.check for d in differences(original, ended, EvalChecks())] == ["outcome"]
    assert differences(original, run(), EvalChecks())[0].detail == "1 calls -> 0 ([send_reply] -> [])"


def test_declared_checks_narrow_the_arguments_and_add_result_fields() -> None:
    checks = EvalChecks(arguments={"send_reply": ["to"]}, same_fields=["category"])
    original = run(("send_reply", {"to": "ana@example.com", "text": "Hello"}), result={"category": "billing"})
    reworded = run(("send_reply", {"to": "ana@example.com", "text": "Hi"}), result={"category": "billing"})
    assert differences(original, reworded, checks) == []
    elsewhere = run(("send_reply", {"to": "bo@example.com", "text": "Hello"}), result={"category": "tech"})
    found = {d.check: d.detail for d in differences(original, elsewhere, checks)}
    assert found == {
        "tool_calls": 'call 1 send_reply: to: "ana@example.com" -> "bo@example.com"',
        "field:category": '"billing" -> "tech"',
    }


def test_a_grounded_answer_must_stay_grounded_with_retrieved_citations() -> None:
    cited = {"citations": [{"passage_id": "p1", "quote": "tides", "source": "a.md"}], "passages": ["p1"]}
    original = run(outcome="grounded", result=cited)
    assert differences(original, run(outcome="grounded", result=cited), EvalChecks()) == []
    stray = {"citations": [{"passage_id": "p9", "quote": "tides", "source": "a.md"}], "passages": ["p1"]}
    [found] = differences(original, run(outcome="grounded", result=stray), EvalChecks())
    assert (found.check, found.detail) == (
        "grounded",
        "citation 1 names passage 'p9', which was not retrieved",
    )
    weaker = run(outcome="unverified", result={"citations": [], "reasons": ["quote not found"]})
    assert {d.check: d.detail for d in differences(original, weaker, EvalChecks())} == {
        "outcome": "grounded -> unverified",
        "grounded": "outcome unverified: quote not found",
    }


def test_the_reports_carry_each_side_and_escape_what_runs_wrote(tmp_path: Path) -> None:
    hostile = "<script>alert('x')</script>"
    original = run(("send_reply", {"to": "ana@example.com", "text": hostile}))
    candidate = run(("send_reply", {"to": "ana@example.com", "text": "fine"}))
    case = EvalCaseReport(
        workflow_type=original.workflow_type,
        fork_step=1,
        passed=False,
        differences=differences(original, candidate, EvalChecks()),
        original=RunSide.of(original),
        candidate=RunSide.of(candidate),
    )
    report = EvalReport.of([case], candidate_model="cand<b>", candidate_system=None, min_pass=1.0)
    as_json, as_html = write_reports(report, tmp_path / "out")
    assert report.summary_line() == "eval: 0/1 passed (0.0%), cost original $0.000000 candidate $0.000000"
    data = json.loads(as_json.read_text())
    assert data["cases"][0]["original"]["tool_calls"][0]["arguments"]["text"] == hostile
    page = as_html.read_text()
    assert "<script>" not in page and "cand<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page and "cand&lt;b&gt;" in page
