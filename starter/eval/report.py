"""The report of `starter eval`: `DIR/report.json` (the `EvalReport` model) and `DIR/report.html` (per
case, the original and the candidate side by side, what differed, the cost of each; every value
HTML-escaped), and the summary line the command prints."""

from __future__ import annotations

import html
import json
from pathlib import Path

from pydantic import BaseModel, Field

from common.contracts.evals import RecordedRun, RecordedToolCall
from starter.eval.scoring import Difference

__all__ = ["EvalCaseReport", "EvalReport", "RunSide", "write_reports"]


class RunSide(BaseModel):
    """One side of a case: the original run or its candidate fork."""

    workflow_id: str
    run_id: str | None = None
    status: str = ""
    outcome: str | None = None
    answer: str = ""
    tool_calls: list[RecordedToolCall] = Field(default_factory=list)
    cost_usd: float = 0.0

    @classmethod
    def of(cls, run: RecordedRun) -> RunSide:
        return cls(
            workflow_id=run.workflow_id,
            run_id=run.run_id,
            status=run.status,
            outcome=run.outcome,
            answer=run.answer(),
            tool_calls=run.tool_calls(),
            cost_usd=run.cost_usd,
        )


class EvalCaseReport(BaseModel):
    workflow_type: str
    fork_step: int | None = None  # the source's first model step, where the candidate forked
    passed: bool
    error: str | None = None  # why the case could not be run or read (it counts as failed)
    differences: list[Difference] = Field(default_factory=list)
    original: RunSide
    candidate: RunSide | None = None


class EvalReport(BaseModel):
    candidate_model: str
    candidate_system: str | None = None  # the file whose text replaced the input's `system`
    min_pass: float | None = None
    total: int
    passed: int
    pass_rate: float  # passed / total (0 with no case)
    original_cost_usd: float
    candidate_cost_usd: float
    cases: list[EvalCaseReport]

    @classmethod
    def of(
        cls,
        cases: list[EvalCaseReport],
        *,
        candidate_model: str,
        candidate_system: str | None,
        min_pass: float | None,
    ) -> EvalReport:
        passed = sum(1 for case in cases if case.passed)
        return cls(
            candidate_model=candidate_model,
            candidate_system=candidate_system,
            min_pass=min_pass,
            total=len(cases),
            passed=passed,
            pass_rate=passed / len(cases) if cases else 0.0,
            original_cost_usd=sum(case.original.cost_usd for case in cases),
            candidate_cost_usd=sum(case.candidate.cost_usd for case in cases if case.candidate),
            cases=cases,
        )

    def summary_line(self) -> str:
        return (
            f"eval: {self.passed}/{self.total} passed ({self.pass_rate * 100:.1f}%), "
            f"cost original ${self.original_cost_usd:.6f} candidate ${self.candidate_cost_usd:.6f}"
        )


def write_reports(report: EvalReport, out: Path) -> tuple[Path, Path]:
    """`out/report.json` and `out/report.html` (the folder is made when missing)."""
    out.mkdir(parents=True, exist_ok=True)
    as_json, as_html = out / "report.json", out / "report.html"
    as_json.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    as_html.write_text(_html(report), encoding="utf-8")
    return as_json, as_html


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2em; }
td, th { border: 1px solid #ccc; padding: 0.4em; vertical-align: top; text-align: left; }
pre { white-space: pre-wrap; margin: 0; }
.pass { color: #176f2c; } .fail { color: #b42318; }
"""


def _html(report: EvalReport) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(report.summary_line())}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(report.summary_line())}</h1>",
        f"<p>Candidate model: <code>{e(report.candidate_model)}</code>"
        + (f"; system from <code>{e(report.candidate_system)}</code>" if report.candidate_system else "")
        + "</p>",
    ]
    for number, case in enumerate(report.cases, start=1):
        parts.append(_case_html(number, case))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _case_html(number: int, case: EvalCaseReport) -> str:
    e = html.escape
    verdict = '<span class="pass">passed</span>' if case.passed else '<span class="fail">failed</span>'
    rows = [
        f"<h2>Case {number}: {e(case.workflow_type)} {e(case.original.workflow_id)} {verdict}</h2>",
    ]
    if case.error:
        rows.append(f'<p class="fail">{e(case.error)}</p>')
    if case.differences:
        items = "".join(f"<li><b>{e(d.check)}</b>: {e(d.detail)}</li>" for d in case.differences)
        rows.append(f"<ul>{items}</ul>")
    candidate = case.candidate
    rows.append("<table><tr><th></th><th>original</th><th>candidate</th></tr>")
    for label, was, now in (
        ("run", _run_label(case.original), _run_label(candidate) if candidate else ""),
        ("outcome", str(case.original.outcome), str(candidate.outcome) if candidate else ""),
        ("answer", case.original.answer, candidate.answer if candidate else ""),
        ("tool calls", _calls(case.original.tool_calls), _calls(candidate.tool_calls) if candidate else ""),
        ("cost", f"${case.original.cost_usd:.6f}", f"${candidate.cost_usd:.6f}" if candidate else ""),
    ):
        rows.append(f"<tr><th>{e(label)}</th><td><pre>{e(was)}</pre></td><td><pre>{e(now)}</pre></td></tr>")
    if case.fork_step is not None:
        rows.append(f'<tr><th>forked at</th><td colspan="2">step {case.fork_step}</td></tr>')
    rows.append("</table>")
    return "\n".join(rows)


def _run_label(side: RunSide) -> str:
    return f"{side.workflow_id} ({side.status})"


def _calls(calls: list[RecordedToolCall]) -> str:
    lines = []
    for call in calls:
        marker = " [simulated]" if call.simulated else (" [error]" if call.is_error else "")
        lines.append(f"{call.name}({json.dumps(call.arguments, ensure_ascii=False, sort_keys=True)}){marker}")
    return "\n".join(lines) or "none"
