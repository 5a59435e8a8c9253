"""`python -m starter eval`: regression evals over recorded runs (runner, scoring, reports) and
`eval export` (recorded runs as regression cases for the testing kit). See docs/building-workflows.md,
"Evals"."""

from starter.eval.export import export_cases
from starter.eval.history import read_run
from starter.eval.report import EvalCaseReport, EvalReport, RunSide, write_reports
from starter.eval.runner import EvalOptions, run_eval
from starter.eval.scoring import Difference

__all__ = [
    "Difference",
    "EvalCaseReport",
    "EvalOptions",
    "EvalReport",
    "RunSide",
    "export_cases",
    "read_run",
    "run_eval",
    "write_reports",
]
