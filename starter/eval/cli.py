"""The `eval` command of `python -m starter`:

    python -m starter eval (--query Q | --ids A,B) --candidate-model M [--candidate-system FILE]
        [--min-pass RATE] [--concurrency N] [--case-timeout SECONDS] [--limit N] --out DIR
    python -m starter eval export (--query Q | --ids A,B) [--limit N] --out cases.jsonl

The eval prints one summary line and writes DIR/report.json and DIR/report.html; it exits 1 when the
pass rate is below `--min-pass`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from temporalio.client import Client

from starter.api import StarterError
from starter.eval.export import export_cases
from starter.eval.report import write_reports
from starter.eval.runner import DEFAULT_CASE_TIMEOUT_S, DEFAULT_CONCURRENCY, EvalOptions, run_eval
from starter.eval.select import DEFAULT_LIMIT
from starter.validation import positive_int

__all__ = ["add_eval_parser", "run_eval_command"]


def _ids(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"a pass rate between 0 and 1, got {value}")
    return rate


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"a positive number of seconds, got {value}")
    return seconds


def add_eval_parser(commands: Any) -> None:
    """Adds `eval` (and `eval export`) to the starter's subcommands."""
    parser = commands.add_parser(
        "eval",
        help="re-run closed runs with a candidate model in eval mode and score them (eval export: cases)",
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=["export"],
        help="export: write the runs as regression cases (JSON lines)",
    )
    chosen = parser.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--query", metavar="VISIBILITY_QUERY", help="the closed runs a visibility query selects"
    )
    chosen.add_argument("--ids", type=_ids, metavar="ID,...", help="these workflow ids (closed runs)")
    parser.add_argument(
        "--limit", type=positive_int, default=DEFAULT_LIMIT, metavar="N", help="runs a query selects at most"
    )
    parser.add_argument("--candidate-model", metavar="M", help="the model the candidate runs use (eval)")
    parser.add_argument(
        "--candidate-system", type=Path, metavar="FILE", help="replaces the input's `system` with FILE's text"
    )
    parser.add_argument(
        "--min-pass", type=_rate, metavar="RATE", help="exit 1 when the pass rate is below it"
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"cases running at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--case-timeout",
        dest="case_timeout_s",
        type=_seconds,
        default=DEFAULT_CASE_TIMEOUT_S,
        metavar="SECONDS",
        help=f"a candidate run taking longer fails its case (default {DEFAULT_CASE_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR|FILE",
        help="eval: the reports' folder; export: the file",
    )


def _writable(out: Path, *, folder: bool) -> None:
    """`--out` can be written (a folder made when missing), checked before any run is read: the
    reports are written last, after every case ran."""
    try:
        (out if folder else out.parent).mkdir(parents=True, exist_ok=True)
        probe = (out if folder else out.parent) / f".{out.name}.writable"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise StarterError(f"--out {out}: cannot write: {error.strerror or error}") from None


async def run_eval_command(client: Client, args: argparse.Namespace) -> int:
    _writable(args.out, folder=args.action != "export")
    if args.action == "export":
        count = await export_cases(client, args.out, query=args.query, ids=args.ids, limit=args.limit)
        print(f"exported {count} run{'s' if count != 1 else ''} to {args.out}")
        return 0
    if not args.candidate_model:
        raise StarterError("eval needs --candidate-model M (or `eval export` to write cases)")
    options = EvalOptions(
        candidate_model=args.candidate_model,
        query=args.query,
        ids=tuple(args.ids or ()),
        limit=args.limit,
        candidate_system=args.candidate_system,
        min_pass=args.min_pass,
        concurrency=args.concurrency,
        case_timeout_s=args.case_timeout_s,
    )
    report = await run_eval(client, options)
    write_reports(report, args.out)
    print(report.summary_line(), flush=True)
    return 1 if args.min_pass is not None and report.pass_rate < args.min_pass else 0
