"""`python -m bench.one_side product|baseline agent_step|fan_out [--size N] [--reps N]`: one side of
one shape, run again and again in a process of its own (the bench's dev server, workers and model),
for a profiler to watch: `py-spy record -f raw -o side.txt -- python -m bench.one_side product fan_out
--size 500`, then `python -m bench.profile_causes side.txt baseline.txt`. Prints each run's wall time
and this process's CPU time per step (both workers live in it; only the chosen side runs)."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import figures
from bench.baseline import BaselineReport, BaselineResearchInput
from bench.harness import Bench, running_bench
from bench.model import ModelConfig
from bench.workers import BASELINE_QUEUE, PRODUCT_QUEUE
from workflows.models import ResearchInput, ResearchResult

__all__ = ["main", "run_once"]


async def run_once(bench: Bench, product: bool, shape: str, size: int) -> float:
    """One run of the shape on one side; its wall time in seconds."""
    if shape == "agent_step":
        bench.model.config = ModelConfig(reply_bytes=200)
        start = figures.start_product_agent if product else figures.start_baseline_agent
        _, seconds = await figures.timed(start(bench, size))
        return seconds
    bench.model.config = ModelConfig(research_latency_s=0.2, reply_bytes=200)
    topic = f"bench topic {uuid.uuid4().hex}"
    if product:
        params = ResearchInput(topic=topic, max_subtopics=size, max_parallel=size)
        started = bench.product.start_workflow(
            "ResearchWorkflow",
            params,
            id=figures.new_id("research"),
            task_queue=PRODUCT_QUEUE,
            result_type=ResearchResult,
        )
    else:
        started = bench.baseline.start_workflow(
            "BaselineResearch",
            BaselineResearchInput(topic=topic, subtopics=size),
            id=figures.new_id("baseline-research"),
            task_queue=BASELINE_QUEUE,
            result_type=BaselineReport,
        )
    _, seconds = await figures.timed(started)
    return seconds


async def _run(product: bool, shape: str, size: int, reps: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ai-workflows-one-side-") as scratch:
        async with running_bench(Path(scratch)) as bench:
            await run_once(bench, product, shape, 2 if shape == "agent_step" else size)  # warm-up
            walls, cpus = [], []
            for _ in range(reps):
                before = sum(os.times()[:2])
                walls.append(await run_once(bench, product, shape, size))
                cpus.append((sum(os.times()[:2]) - before) * 1000 / size)
            side = "product" if product else "baseline"
            print(
                f"{side} {shape} {size}: wall s {sorted(round(w, 3) for w in walls)}, "
                f"CPU ms per step {sorted(round(c, 2) for c in cpus)} (median {statistics.median(cpus):.2f})",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.one_side", description=__doc__)
    parser.add_argument("side", choices=["product", "baseline"])
    parser.add_argument("shape", choices=["agent_step", "fan_out"])
    parser.add_argument(
        "--size", type=int, default=None, help="iterations (agent_step, 20) or width (fan_out, 500)"
    )
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    size = args.size or (20 if args.shape == "agent_step" else 500)
    began = time.monotonic()
    asyncio.run(_run(args.side == "product", args.shape, size, args.reps))
    print(f"{time.monotonic() - began:.0f} s", file=sys.stderr)
    sys.stdout.flush()
    os._exit(0)  # Temporal's bridge threads can abort interpreter finalization


if __name__ == "__main__":
    sys.exit(main())
