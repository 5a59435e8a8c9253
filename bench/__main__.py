"""`python -m bench [--quick] [--output PATH] [--only SHAPE,...] [--fan-outs N,...] [--agents N]
[--reps N]`: starts its own dev server and workers, measures every figure next to its raw-SDK
baseline, prints the table and writes docs/benchmarks.md (or PATH). A run of some shapes only
(`--only`, or changed sizes) prints its table and writes only to an explicit --output."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import answer, fork, rate_limit, session, spend, stream
from bench import figures as measure
from bench.analysis import ANALYSIS, MISS_REASONS
from bench.harness import Bench, running_bench
from bench.report import RunInfo, cell, counts_notes, load_average, markdown, now, text_table
from bench.settle import settle

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def measured(
    name: str, figure: Awaitable[measure.Figure | list[measure.Figure]]
) -> list[measure.Figure]:
    """A figure's results; a figure that fails is reported as failed and the others still run."""
    try:
        made = await figure
    except Exception as error:  # the run goes on: one broken figure must not lose the others
        progress(f"{name} failed: {error!r}")
        return [measure.failed(name, error)]
    made = made if isinstance(made, list) else [made]
    for result in made:
        progress(
            f"  {result.title[:70]}: {cell(result.product, result.digits)} vs {cell(result.baseline, result.digits)}"
        )
    return made


FigureFn = Callable[[Bench, measure.Sizes], Awaitable[measure.Figure | list[measure.Figure]]]
# Shapes by the name `--only` takes, in the order a full run measures them (resume last).
SHAPES: dict[str, tuple[str, FigureFn]] = {
    "agent_step": ("agent step", measure.agent_step),
    "history": ("history growth", measure.history_growth),
    "fan_out": ("fan-out", measure.fan_out),
    "throughput": ("throughput", measure.throughput),
    "long_agent": ("long agent", measure.long_agent),
    "answer": ("grounded answer", answer.figures),
    "stream": ("streamed reply", stream.figures),
    "sessions": ("sessions", session.figures),
    "spend": ("tenant budgets", spend.figures),
    "rate_limit": ("shared rate limit", rate_limit.figures),
    "fork": ("fork from step N", fork.figures),
    "resume": ("resume after SIGKILL", measure.resume),
}


async def run(
    quick: bool, state_dir: Path, sizes: measure.Sizes, only: list[str] | None = None
) -> list[measure.Figure]:
    chosen = only or list(SHAPES)
    results: list[measure.Figure] = []
    async with running_bench(state_dir) as bench:
        progress(f"dev server at {bench.address}")
        # In a quick run the resume figure (it waits out a heartbeat timeout) overlaps the others;
        # in a full run every figure has the machine to itself.
        overlap = quick and "resume" in chosen
        resuming = asyncio.create_task(measured("resume", measure.resume(bench, sizes))) if overlap else None
        for key in chosen:
            name, figure = SHAPES[key]
            if key == "resume" and resuming is not None:
                continue
            settled = None if quick else (await settle(lambda: bench.cpu_seconds()[0])).note()
            progress(name + (f" ({settled})" if settled else ""))
            made = await measured(name, figure(bench, sizes))
            if settled is not None:
                made[0].notes.insert(0, settled)
            results += made
        if resuming is not None:
            results += await resuming
    order = ["agent_step", "history_bytes", "history_growth", "store_bytes"]
    # (the resume rows come last, in the order measured)
    return sorted(results, key=lambda f: order.index(f.key) if f.key in order else len(order))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of seconds (small sizes)")
    parser.add_argument("--output", type=Path, default=None, help=f"markdown file (default {DEFAULT_OUTPUT})")
    parser.add_argument("--only", type=_names, default=None, help="comma-separated: " + ", ".join(SHAPES))
    parser.add_argument("--fan-outs", type=_numbers, default=None, help="fan-out widths, e.g. 500")
    parser.add_argument("--agents", type=int, default=None, help="concurrent agents of the throughput shape")
    parser.add_argument("--reps", type=int, default=None, help="repetitions")
    args = parser.parse_args(argv)
    sizes = measure.QUICK if args.quick else measure.FULL
    changes = {"fan_outs": args.fan_outs, "concurrent_agents": args.agents, "reps": args.reps}
    sizes = dataclasses.replace(sizes, **{k: v for k, v in changes.items() if v is not None})
    partial = args.only is not None or any(v is not None for v in changes.values())
    output: Path | None = args.output or (None if partial else DEFAULT_OUTPUT)
    logging.basicConfig(level=logging.WARNING)
    started, began, load_before = now(), time.monotonic(), load_average()
    with tempfile.TemporaryDirectory(prefix="ai-workflows-bench-") as scratch:
        results = asyncio.run(run(args.quick, Path(scratch), sizes, args.only))
    info = RunInfo(started, time.monotonic() - began, args.quick, load_before, load_average())
    print(text_table(results))
    print(f"load average (1, 5, 15 min) before: {info.load_before}; after: {info.load_after}")
    for figure in results:
        for note in figure.notes + counts_notes(figure):
            print(f"- {figure.key}: {note}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        analysis = "\n\n".join(
            (ANALYSIS, session.ANALYSIS, spend.ANALYSIS, rate_limit.ANALYSIS, fork.ANALYSIS)
        )
        reasons = {**MISS_REASONS, **session.MISS_REASONS, **spend.MISS_REASONS, **rate_limit.MISS_REASONS}
        output.write_text(markdown(results, info, analysis, reasons))
        print(f"\nwritten to {output}")
    failed = [figure.key for figure in results if figure.error]
    if failed:
        print(f"failed figures: {', '.join(failed)}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if failed else 0)  # Temporal's bridge threads can abort interpreter finalization


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SHAPES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown shape(s) {unknown}; known: {', '.join(SHAPES)}")
    return names


def _numbers(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


if __name__ == "__main__":
    sys.exit(main())
