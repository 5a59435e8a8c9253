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
from pathlib import Path

from bench import figures as measure
from bench.analysis import ANALYSIS
from bench.harness import running_bench
from bench.report import RunInfo, load_average, markdown, now, text_table

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def run(quick: bool, state_dir: Path) -> list[measure.Figure]:
    sizes = measure.QUICK if quick else measure.FULL
    results: list[measure.Figure] = []
    async with running_bench(state_dir) as bench:
        progress(f"dev server at {bench.address}")
        # In a quick run the resume figure (it waits out a heartbeat timeout) overlaps the others;
        # in a full run every figure has the machine to itself.
        resuming = asyncio.create_task(measure.resume(bench, sizes, concurrently=True)) if quick else None
        for name, figure in (
            ("agent step", measure.agent_step),
            ("history growth", measure.history_growth),
            ("fan-out", measure.fan_out),
            ("throughput", measure.throughput),
            ("long agent", measure.long_agent),
        ):
            progress(name)
            made = await figure(bench, sizes)
            results += made if isinstance(made, list) else [made]
        progress("resume after SIGKILL")
        results.append(await resuming if resuming else await measure.resume(bench, sizes, concurrently=False))
    order = ["agent_step", "history_bytes", "history_growth", "store_bytes"]
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
    output.write_text(markdown(results, info, ANALYSIS))
    print(f"\nwritten to {output}")
    sys.stdout.flush()
    os._exit(0)  # Temporal's bridge threads can abort interpreter finalization


if __name__ == "__main__":
    sys.exit(main())
