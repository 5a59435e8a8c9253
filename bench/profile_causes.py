"""`python -m bench.profile_causes PRODUCT.txt [BASELINE.txt]`: the share of py-spy samples per cause
in profiles recorded with `py-spy record -f raw` over `python -m bench.one_side` (docs/benchmarks.md,
"Performance at parity"). A sample counts once, for the first cause whose frames it holds, in the
order below; idle threads (waiting in select, a lock, a queue) and threads with no Python frame
(Temporal's Rust threads, mostly waiting) are left out."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CAUSES", "busy_samples", "cause_of", "main", "shares"]

# (cause, frames that mark it): checked in this order.
CAUSES: list[tuple[str, tuple[str, ...]]] = [
    ("payload store: the driver (cutting, hashing, writing objects)", ("ContentAddressedDriver.",)),
    (
        "tracing: spans and their headers (OTel interceptors, model and tool spans)",
        (
            "_maybe_span (",
            "_workflow_maybe_span (",
            "_context_to_headers (",
            "_context_from_headers (",
            "_headers_to_context (",
            "_tracer_provider.py",
            "(trace/__init__.py",
            "(common/telemetry.py",
            "workflow_spans.py",
            "propagate",
        ),
    ),
    (
        "SDK: serialization and store context looked up in the sandbox, per payload",
        ("get_serialization_context (", "get_external_store_context ("),
    ),
    (
        "payload store: converter copies per context and the storage step",
        ("with_context (", "_with_store_context (", "ExternalStorage._", "BoundarySelector"),
    ),
    (
        "SDK: visiting the payloads of activations and completions",
        ("decode_activation (", "encode_completion ("),
    ),
    ("in-flight journal", ("worker/inflight.py",)),
    ("liveness heartbeats", ("worker/liveness.py",)),
    (
        "status, step records, stream entries, search attributes",
        ("workflows/progress.py", "workflow_streams/", "upsert_search_attributes", "run_summary"),
    ),
    (
        "workflow code and the SDK's workflow machinery",
        ("_Instance.activate (", "_RunningWorkflow.activate ("),
    ),
    ("activities and the SDK's activity worker", ("_ActivityWorker.",)),
    ("start-up: imports, connecting, warm-up", ("_find_and_load", "_run (bench/one_side.py")),
]
OTHER = "other: event loop, bridge calls, polling"
IDLE_LEAVES = (
    "select (selectors",
    "epoll",
    "_wait_for_tstate_lock",
    "wait (threading.py",
    "_worker (concurrent/futures/thread.py",
    "get (queue.py",
)


def busy_samples(lines: Iterable[str]) -> list[tuple[str, int]]:
    """(stack, count) of every sample of a raw py-spy file that was doing Python work."""
    samples = []
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        if not leaf or any(idle in leaf for idle in IDLE_LEAVES):
            continue
        samples.append((stack, int(count)))
    return samples


def cause_of(stack: str) -> str:
    for cause, marks in CAUSES:
        if any(mark in stack for mark in marks):
            return cause
    return OTHER


def shares(samples: list[tuple[str, int]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for stack, count in samples:
        counts[cause_of(stack)] += count
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_causes", description=__doc__)
    parser.add_argument("product", type=Path)
    parser.add_argument("baseline", type=Path, nargs="?")
    args = parser.parse_args(argv)
    product = shares(busy_samples(args.product.read_text().splitlines()))
    baseline = shares(busy_samples(args.baseline.read_text().splitlines())) if args.baseline else Counter()
    total_p, total_b = sum(product.values()), sum(baseline.values())
    print("| cause | product samples | share | baseline samples | share |\n| --- | --- | --- | --- | --- |")
    for cause in [c for c, _ in CAUSES] + [OTHER]:
        p, b = product[cause], baseline[cause]
        print(f"| {cause} | {p} | {p / max(total_p, 1):.1%} | {b} | {b / max(total_b, 1):.1%} |")
    print(f"| all busy samples | {total_p} | 100% | {total_b} | 100% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
