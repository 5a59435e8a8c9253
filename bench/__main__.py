"""`python -m bench [--quick] [--output PATH]`: starts its own dev server and workers, measures every
figure next to its raw-SDK baseline, prints the table and writes docs/benchmarks.md (or PATH)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

from bench import figures as measure
from bench.analysis import ANALYSIS, MISS_REASONS
from bench.harness import running_bench
from bench.report import RunInfo, cell, load_average, markdown, now, text_table

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


async def run(quick: bool, state_dir: Path) -> list[measure.Figure]:
    sizes = measure.QUICK if quick else measure.FULL
    results: list[measure.Figure] = []
    async with running_bench(state_dir) as bench:
        progress(f"dev server at {bench.address}")
        # In a quick run the resume figure (it waits out a heartbeat timeout) overlaps the others;
        # in a full run every figure has the machine to itself.
        resuming = asyncio.create_task(measured("resume", measure.resume(bench, sizes))) if quick else None
        for name, figure in (
            ("agent step", measure.agent_step),
            ("history growth", measure.history_growth),
            ("fan-out", measure.fan_out),
            ("throughput", measure.throughput),
            ("long agent", measure.long_agent),
        ):
            progress(name)
            results += await measured(name, figure(bench, sizes))
        progress("resume after SIGKILL")
        results += await resuming if resuming else await measured("resume", measure.resume(bench, sizes))
    order = ["agent_step", "history_bytes", "history_growth", "store_bytes"]
    # (the resume rows come last, in the order measured)
    return sorted(results, key=lambda f: order.index(f.key) if f.key in order else len(order))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of seconds (small sizes)")
    parser.add_argument("--output", type=Path, default=None, help=f"markdown file (default {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)
    output: Path = args.output or DEFAULT_OUTPUT
    logging.basicConfig(level=logging.WARNING)
    started, began, load_before = now(), time.monotonic(), load_average()
    with tempfile.TemporaryDirectory(prefix="ai-workflows-bench-") as scratch:
        results = asyncio.run(run(args.quick, Path(scratch)))
    info = RunInfo(started, time.monotonic() - began, args.quick, load_before, load_average())
    print(text_table(results))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown(results, info, ANALYSIS, MISS_REASONS))
    print(f"\nwritten to {output}")
    failed = [figure.key for figure in results if figure.error]
    if failed:
        print(f"failed figures: {', '.join(failed)}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if failed else 0)  # Temporal's bridge threads can abort interpreter finalization


if __name__ == "__main__":
    sys.exit(main())
