"""`python -m bench --quick` as a smoke test: it starts its own dev server and workers, measures every
figure next to its baseline and writes the table (to a temporary file, never docs/benchmarks.md).
Timings on a shared machine say nothing here: only that every figure is produced."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIGURES = (
    "agent step (LLM + one tool)",
    "history bytes of a",
    "history growth: bytes(",
    "payload store: new bytes written",
    "fan-out of 10 research steps",
    "fan-out of 20 research steps",
    "throughput:",
    "worker CPU per step of the same",
    "workflow-task time of a",
    "resume after the worker is SIGKILLed mid-step",
    "streamed reply: the model's first token to the subscriber",
    "session turn: message sent -> reply readable",
    "idle sessions, over",
    "turns: slowest workflow task",
    "tenant budget: reservation overhead per model call",
    "tenant budget: 10 concurrent 3-step agents of one tenant",
    "rate limit: 429s from a server limited to",
    "rate limit: calls/min over",
    "fork from step 5 of a 6-step agent",
)


# Every shape of the bench, quick sizes, on a 2-core machine: about four minutes (its own servers and
# workers start for each shape).
@pytest.mark.timeout(600)
def test_quick_bench_writes_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    docs = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
    docs_before = docs.read_bytes() if docs.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    markdown = output.read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    for figure in FIGURES:
        assert any(figure in line for line in done.stdout.splitlines()), figure
        [row] = [line for line in rows if figure in line]
        product, baseline = row.split(" | ")[2:4]
        assert product != "-" and baseline != "-", row  # a measured value on both sides
    # The long agent's sides run in worker processes of their own, which report their collector's
    # passes (bench/worker_process.py, bench/collector.py).
    assert "- workflow_task: the collector of each side's worker process: product's " in markdown
    for heading in ("## Run", "- machine:", "- load average", "temporalio 1.", "## Figures"):
        assert heading in markdown
    assert (docs.read_bytes() if docs.exists() else None) == docs_before
