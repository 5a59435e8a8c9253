"""The shared rate limit's figures (`python -m bench --only rate_limit`): ten agents at a time on two
real `python -m worker` processes, on the OpenAI-compatible provider pointed at `llmock serve --rpm
60` (PyPI `llmock`: a chaos LLM server whose bucket answers 429 with the real wait past its limit),
for a measured window after the first minute's burst.

- product: the workers share `LLM_RATE_LIMITS` = 57 requests a minute (just below the server's) in one
  spend database (a SQLite file: one host);
- baseline: the same workers and agents without a limit: what the deployment draws without it.

Figures: the 429s the server sent (target 0), and how far the calls per minute after the burst are
from the limit (target within 10%: the limit is used, not only kept). Every agent is a new prompt
(llmock tells calls apart by their request body); as one ends the next starts, so the demand always
exceeds the limit."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import WorkflowHandle

from bench.figures import Figure, Sizes
from bench.harness import Bench, free_port
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput

__all__ = ["ANALYSIS", "MISS_REASONS", "figures"]

REPO = Path(__file__).resolve().parent.parent
LLMOCK = Path(sys.executable).parent / "llmock"
MODEL = "gpt-4o-mini"
SERVER_RPM = 60
LIMIT_RPM = 57
AGENTS = 10
WORKERS = 2
READY_LINE = "worker running"


@dataclass
class Side:
    """One side's run: what llmock answered (status, start on its clock) and the measured window."""

    calls: list[tuple[int, float]] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)  # time.monotonic(): after the burst, to the end

    @property
    def refused(self) -> int:
        return sum(1 for status, _ in self.calls if status == 429)

    def per_minute(self) -> float:
        start, end = self.window
        answered = [t for status, t in self.calls if status == 200 and start <= t < end]
        return len(answered) * 60.0 / (end - start) if end > start else 0.0


class WorkerProcesses:
    """`python -m worker` processes with the given environment, ready once each polls its queue."""

    def __init__(self, env: dict[str, str], count: int) -> None:
        self._ready = [threading.Event() for _ in range(count)]
        self._lines: list[str] = []
        self._processes = [
            subprocess.Popen(
                [sys.executable, "-m", "worker"],
                env=env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]
        for process, ready in zip(self._processes, self._ready, strict=True):
            threading.Thread(target=self._read, args=(process, ready), daemon=True).start()

    def _read(self, process: subprocess.Popen[str], ready: threading.Event) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self._lines.append(line.rstrip())
            if READY_LINE in line:
                ready.set()

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        for ready in self._ready:
            if not await asyncio.to_thread(ready.wait, timeout_s):
                raise TimeoutError("a worker did not start: " + " / ".join(self._lines[-5:]))

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


class Llmock:
    def __init__(self, rpm: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [
                *(str(LLMOCK), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--rpm", str(rpm)),
                *("--tool-mode", "auto", "--log-level", "warning"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    if (await client.get(f"{self.url}/_llmock/requests", timeout=1.0)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("llmock did not start")
                await asyncio.sleep(0.1)

    async def calls(self) -> list[tuple[int, float]]:
        async with httpx.AsyncClient() as client:
            journal = (await client.get(f"{self.url}/_llmock/requests", timeout=30.0)).json()
        return [
            (int(r["status"]), float(r["started_at"]))
            for r in journal["requests"]
            if str(r["path"]).endswith("/chat/completions")
        ]

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()


async def run_side(bench: Bench, rate_limits: str, window_s: float) -> Side:
    """Agents, ten at a time, against a fresh llmock for the burst plus `window_s` seconds."""
    state = bench.state_dir / f"rate-limit-{uuid.uuid4().hex[:8]}"
    queue = f"bench-rate-limit-{uuid.uuid4().hex[:8]}"
    server = Llmock(SERVER_RPM)
    workers: WorkerProcesses | None = None
    try:
        await server.wait_ready()
        env = {name: value for name, value in os.environ.items() if not name.startswith(("LLM_", "OPENAI_"))}
        env.update(
            {
                "TEMPORAL_ADDRESS": bench.address,
                "TEMPORAL_TASK_QUEUE": queue,
                "LLM_PROVIDER": "openai",
                "OPENAI_BASE_URL": f"{server.url}/v1",
                "OPENAI_API_KEY": "sk-bench",
                "LLM_MODEL": MODEL,
                "LLM_RATE_LIMITS": rate_limits,
                "SPEND_LEDGER_PATH": str(state / "spend.sqlite3"),
                "PAYLOAD_STORE_DIR": str(bench.settings.payload_store_dir),
                "WORKER_LEASE_DIR": str(state / "workers"),
                "DEDUPE_LEDGER_PATH": str(state / "dedupe.sqlite3"),
                "RUN_STATE_KEY_FILE": str(state / "run-state.key"),
                "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                "PAYLOAD_KEYS": "",
            }
        )
        workers = WorkerProcesses(env, WORKERS)
        await workers.wait_ready()
        # The window starts once the first minute's burst is spent (as many calls as the limit).
        stop = asyncio.Event()
        handles: list[WorkflowHandle[Any, Any]] = []

        async def agent_after_agent() -> None:
            while not stop.is_set():
                handle = await bench.product.start_workflow(
                    AgentWorkflow.run,
                    AgentInput(goal=f"bench {uuid.uuid4().hex}: what is 6 * 7?", tools=["calculator"]),
                    id=f"bench-rate-limit-{uuid.uuid4().hex[:10]}",
                    task_queue=queue,
                )
                handles.append(handle)
                done = asyncio.ensure_future(handle.result())
                ended = asyncio.ensure_future(stop.wait())
                await asyncio.wait({done, ended}, return_when=asyncio.FIRST_COMPLETED)
                for waiter in (done, ended):
                    waiter.cancel()

        async def watch_burst() -> None:
            # A poll of llmock's journal (another process): nothing here could be awaited instead.
            while sum(1 for status, _ in await server.calls() if status == 200) < LIMIT_RPM:  # noqa: ASYNC110
                await asyncio.sleep(0.5)

        agents = [asyncio.create_task(agent_after_agent()) for _ in range(AGENTS)]
        try:
            await asyncio.wait_for(watch_burst(), timeout=120)
            # llmock's journal times are its time.monotonic(): the machine's one monotonic clock.
            window_start = time.monotonic()
            await asyncio.sleep(window_s)  # the measured window, not synchronisation
            window_end = time.monotonic()
        finally:
            stop.set()
            await asyncio.gather(*agents, return_exceptions=True)
            for handle in handles:
                try:
                    await handle.terminate("bench window over")
                except Exception:
                    pass  # it completed already
        return Side(await server.calls(), (window_start, window_end))
    finally:
        if workers is not None:
            workers.stop()
        server.stop()


async def figures(bench: Bench, sizes: Sizes) -> list[Figure]:
    window_s = sizes.rate_limit_window_s
    limits = json.dumps({f"openai/{MODEL}": {"rpm": LIMIT_RPM}})
    product = await run_side(bench, limits, window_s)
    baseline = await run_side(bench, "", window_s)
    deviation = [abs(side.per_minute() / LIMIT_RPM - 1) * 100 for side in (product, baseline)]
    agents = f"{AGENTS} agents on {WORKERS} workers"
    return [
        Figure(
            "rate_limit_429s",
            f"rate limit: 429s from a server limited to {SERVER_RPM}/min, {agents}",
            "429s",
            [float(product.refused)],
            [float(baseline.refused)],
            "value<=",
            0.0,
            digits=0,
            notes=[f"{len(product.calls)} calls with LLM_RATE_LIMITS, {len(baseline.calls)} without"],
        ),
        Figure(
            "rate_limit_throughput",
            f"rate limit: calls/min over {window_s:.0f} s past the burst, off the limit of {LIMIT_RPM}",
            "%",
            [deviation[0]],
            [deviation[1]],
            "value<=",
            10.0,
            notes=[
                f"{product.per_minute():.1f} calls/min with the limit of {LIMIT_RPM}; without it "
                f"{baseline.per_minute():.1f} answered calls/min (and {baseline.refused} 429s)"
            ],
        ),
    ]


# docs/benchmarks.md's "Shared rate limits" section: the harness rewrites the whole file, so the
# method lives here, next to the code that measures it.
ANALYSIS = f"""## Shared rate limits

`LLM_RATE_LIMITS` against a real chaos server: `llmock serve --rpm {SERVER_RPM}` (PyPI `llmock`, a
bucket of {SERVER_RPM} requests refilled at one a second, 429 with the real wait past it), {AGENTS}
agents at a time (each a new prompt, two model calls: a tool call, then the answer; as one ends the
next starts) on {WORKERS} real `python -m worker` processes on the OpenAI-compatible provider, sharing
one spend database. `python -m bench --only rate_limit` (`bench/rate_limit.py`).

- product: `LLM_RATE_LIMITS={{"openai/{MODEL}": {{"rpm": {LIMIT_RPM}}}}}`, just below the server's
  limit so that the jitter between the two clocks never draws a 429; baseline: no limit.
- **429s**: what the server refused over the whole run (its request journal).
- **calls per minute past the burst**: the requests the server answered from the moment the first
  minute's burst ({LIMIT_RPM} calls) is spent, over the measured window, against the limit; the
  figure is how far off the limit they are, in percent (within 10%: the limit is used, not only kept).
  Without the limit the server's own bucket sets the pace, at the cost of the 429s and their retries.

The test `tests/spend/test_rate_limit_llmock.py` checks the same on a shorter run (no 429 with the
limit, 429s without, the paced calls within 10% of the limit's interval)."""

MISS_REASONS: dict[str, str] = {}
