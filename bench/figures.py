"""Each figure: the product's shape and the baseline's, run in turns against the same server, with
the same model settings, repeated; what is timed and why is in docs/benchmarks.md."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Literal

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from bench.baseline import BaselineAgentInput, BaselineReport, BaselineResearchInput
from bench.collector import CollectorPasses
from bench.harness import Bench
from bench.histories import (
    Counts,
    activity_completions,
    history_bytes,
    run_chain,
    workflow_task_seconds,
)
from bench.model import ModelConfig
from bench.workers import BASELINE_QUEUE, PRODUCT_QUEUE, bench_activities, bench_settings
from common.client import connect
from common.payload_store import SCOPES, ContentAddressedDriver, workflow_scope
from worker.app import build_worker
from workflows.models import AgentInput, AgentResult, ResearchInput, ResearchResult
from workflows.registry import WORKFLOWS

TargetKind = Literal["ratio<=", "ratio>=", "value<=", "info"]


@dataclass
class Figure:
    key: str
    title: str
    unit: str
    product: list[float]
    baseline: list[float]
    target_kind: TargetKind
    target: float = 0.0
    digits: int = 1
    notes: list[str] = field(default_factory=list)
    error: str = ""  # the figure could not be measured
    # From the histories of the figure's runs, per side ("product", "baseline"); `killed` is how many
    # retries per side the figure caused on purpose (a SIGKILLed worker's call), the rest were false.
    counts: dict[str, Counts] = field(default_factory=dict)
    killed: int = 0

    def live_retries(self, side: str) -> int | None:
        """Activities retried although their worker was alive (each a paid model call made twice)."""
        counted = self.counts.get(side)
        return None if counted is None else max(0, counted.retried - self.killed)

    @property
    def ratio(self) -> float | None:
        if not self.product or not self.baseline or median(self.baseline) == 0:
            return None
        return median(self.product) / median(self.baseline)

    @property
    def target_text(self) -> str:
        if self.target_kind == "ratio<=":
            return f"<= {self.target:g}x baseline"
        if self.target_kind == "ratio>=":
            return f">= {self.target:g}x baseline"
        if self.target_kind == "value<=":
            return f"<= {self.target:g} {self.unit}"
        return "-"

    @property
    def met(self) -> bool | None:
        if self.error or self.live_retries("product"):
            return False
        ratio = self.ratio
        if self.target_kind == "ratio<=":
            return ratio is not None and ratio <= self.target
        if self.target_kind == "ratio>=":
            return ratio is not None and ratio >= self.target
        if self.target_kind == "value<=":
            return bool(self.product) and max(self.product) <= self.target
        return None

    @property
    def miss(self) -> str:
        """How far from the target, when missed."""
        if self.met is not False:
            return ""
        if self.error:
            return f"not measured: {self.error}"
        retried = self.live_retries("product")
        if retried:
            counted = self.counts["product"]
            return f"{retried} of {counted.activities} activities retried on a live worker"
        if self.target_kind == "value<=":
            return f"worst {max(self.product):.{self.digits}f} {self.unit}: {max(self.product) / self.target:.2f}x the target"
        assert self.ratio is not None
        return f"ratio {self.ratio:.3f} against {self.target:g}"


def failed(name: str, error: BaseException) -> Figure:
    return Figure(name.replace(" ", "_"), f"{name}: failed", "", [], [], "info", error=repr(error)[:300])


@dataclass(frozen=True)
class Sizes:
    """How big each figure's runs are (`--quick` shrinks them to a smoke run)."""

    reps: int
    step_iterations: int
    history_iterations: tuple[int, int]  # (short, long): the growth ratio is long/short
    fan_outs: tuple[int, ...]
    concurrent_agents: int
    agent_steps: int
    long_agent_steps: int
    kill_offsets: tuple[float, ...]  # seconds into the hanging model call at which the worker dies
    stream_delta_s: float  # the streamed-reply model's pause between two 4-token deltas
    session_turns: int  # turns of a conversation whose median turn latency is one repetition
    idle_sessions: int
    idle_window_s: float  # how long the idle sessions' worker CPU is measured
    long_session_turns: int
    rate_limit_window_s: float  # how long the shared rate limit's throughput is measured


FULL = Sizes(
    reps=3,
    step_iterations=20,
    history_iterations=(10, 50),
    fan_outs=(100, 500),
    concurrent_agents=200,
    agent_steps=10,
    long_agent_steps=1000,
    kill_offsets=(0.0, 0.5, 1.0, 1.5),
    stream_delta_s=0.04,  # 100 tokens/s, a fast hosted model: a 1,000-token reply in 10 s
    session_turns=20,
    idle_sessions=200,
    idle_window_s=20.0,
    long_session_turns=500,
    rate_limit_window_s=120.0,
)
QUICK = Sizes(
    reps=1,
    step_iterations=3,
    history_iterations=(2, 6),
    fan_outs=(10, 20),
    concurrent_agents=10,
    agent_steps=3,
    long_agent_steps=20,
    kill_offsets=(0.5,),
    stream_delta_s=0.004,
    session_turns=5,
    idle_sessions=50,
    idle_window_s=2.0,
    long_session_turns=50,
    rate_limit_window_s=10.0,
)


def new_id(kind: str) -> str:
    return f"bench-{kind}-{uuid.uuid4().hex[:10]}"


# -- runs of one shape ----------------------------------------------------------------------------


async def start_product_agent(bench: Bench, iterations: int, queue: str = PRODUCT_QUEUE) -> WorkflowHandle:
    params = AgentInput(
        goal=f"bench agent {uuid.uuid4().hex}", tools=["calculator"], max_iterations=iterations
    )
    return await bench.product.start_workflow(
        "AgentWorkflow", params, id=new_id("agent"), task_queue=queue, result_type=AgentResult
    )


async def start_baseline_agent(
    bench: Bench, iterations: int, transcript: str = "full", queue: str = BASELINE_QUEUE
) -> WorkflowHandle:
    params = BaselineAgentInput(
        goal=f"bench agent {uuid.uuid4().hex}", iterations=iterations, transcript=transcript
    )
    return await bench.baseline.start_workflow(
        "BaselineAgent", params, id=new_id("baseline-agent"), task_queue=queue, result_type=str
    )


async def timed(start: asyncio.Future[WorkflowHandle] | object) -> tuple[WorkflowHandle, float]:
    began = time.perf_counter()
    handle: WorkflowHandle = await start  # type: ignore[misc]
    await handle.result()
    return handle, time.perf_counter() - began


async def chain_of(client: Client, handle: WorkflowHandle) -> list:
    return await run_chain(client, handle.id, handle.first_execution_run_id or handle.result_run_id)


async def count_into(counts: Counts, client: Client, handles: list[WorkflowHandle]) -> None:
    """Adds the runs' retries, sticky misses and slowest attempt (outside the timed part)."""
    for chain in await asyncio.gather(*(chain_of(client, handle) for handle in handles)):
        counts.add(chain)


def sides() -> dict[str, Counts]:
    return {"product": Counts(), "baseline": Counts()}


def slowest_note(unit: str, slowest: dict[bool, list[float]]) -> str:
    """A row's note listing each repetition's slowest task (ms), product then baseline."""
    product, baseline = (", ".join(f"{v:.1f}" for v in slowest[side]) for side in (True, False))
    return f"slowest task per {unit}: product {product} ms; baseline {baseline} ms"


def in_turn(rep: int) -> tuple[bool, bool]:
    """Is-product for each side in the order they run: product first on even repetitions, baseline
    first on odd ones, so drift hits both alike."""
    return (True, False) if rep % 2 == 0 else (False, True)


# -- figures --------------------------------------------------------------------------------------


async def agent_step(bench: Bench, sizes: Sizes) -> Figure:
    bench.model.config = ModelConfig(reply_bytes=200)
    n = sizes.step_iterations
    await timed(start_product_agent(bench, 2))  # warm-up: sandbox imports, caches, connections
    await timed(start_baseline_agent(bench, 2))
    product: list[float] = []
    baseline: list[float] = []
    counts = sides()
    for rep in range(sizes.reps * 6):  # short runs: more repetitions cost little and steady the median
        for is_product in in_turn(rep):
            if is_product:
                handle, seconds = await timed(start_product_agent(bench, n))
                product.append(seconds / n * 1000)
                await count_into(counts["product"], bench.product, [handle])
            else:
                handle, seconds = await timed(start_baseline_agent(bench, n))
                baseline.append(seconds / n * 1000)
                await count_into(counts["baseline"], bench.baseline, [handle])
    return Figure(
        "agent_step",
        f"agent step (LLM + one tool), zero-latency model, per iteration ({n}-iteration runs)",
        "ms",
        product,
        baseline,
        "ratio<=",
        1.1,
        counts=counts,
    )


S3_QUEUE = "bench-product-s3"


@asynccontextmanager
async def s3_product(bench: Bench) -> AsyncIterator[Client]:
    """The product with PAYLOAD_STORE=s3, beside the local-store product of the same run: an
    S3-compatible server in this process (moto's, a dev dependency from PyPI), and a client and
    worker whose converter keeps the store in its bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(name, "bench")  # moto takes any credentials
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
        settings = bench_settings(
            bench.address,
            bench.state_dir,
            temporal_task_queue=S3_QUEUE,
            payload_store="s3",
            payload_store_s3_bucket="bench",
            aws_endpoint_url=endpoint,
            aws_region="us-east-1",
        )
        client = await connect(settings, wait_s=60)  # as the product connects: converter, tracing
        activities = bench_activities(settings, bench.model)
        async with build_worker(client, settings, task_queue=S3_QUEUE, activities=activities):
            yield client
    finally:
        server.stop()


def store_of(client: Client) -> ContentAddressedDriver:
    storage = client.data_converter.external_storage
    assert storage is not None and isinstance(storage.drivers[0], ContentAddressedDriver)
    return storage.drivers[0]


async def stored_bytes(client: Client, workflow_id: str) -> float:
    """KB the store holds for one workflow (its scope: every object its histories reference)."""
    store = store_of(client).object_store
    assert hasattr(store, "list_objects")
    objects = await store.list_objects(f"{SCOPES}/{workflow_scope(workflow_id)}/")
    return sum(item.size for item in objects) / 1000


async def history_growth(bench: Bench, sizes: Sizes) -> list[Figure]:
    bench.model.config = ModelConfig(reply_bytes=2048)
    short, long = sizes.history_iterations
    sizes_product: dict[int, list[float]] = {short: [], long: []}
    sizes_baseline: dict[int, list[float]] = {short: [], long: []}
    sizes_s3: list[float] = []
    store_local: list[float] = []
    store_s3: list[float] = []
    whole_payloads: list[float] = []
    reps = max(1, min(sizes.reps, 3))  # sizes barely vary between repetitions
    counts = sides()
    async with s3_product(bench) as s3:
        for _ in range(reps):
            for n in (short, long):
                before = bench.store.counters.payload_bytes_stored
                handle, _ = await timed(start_product_agent(bench, n))
                chain = await chain_of(bench.product, handle)
                counts["product"].add(chain)
                sizes_product[n].append(sum(history_bytes(h) for h in chain) / 1000)
                if n == long:
                    store_local.append(await stored_bytes(bench.product, handle.id))
                    whole_payloads.append((bench.store.counters.payload_bytes_stored - before) / 1000)
                    params = AgentInput(
                        goal=f"bench agent {uuid.uuid4().hex}", tools=["calculator"], max_iterations=n
                    )
                    start = s3.start_workflow(
                        "AgentWorkflow",
                        params,
                        id=new_id("agent-s3"),
                        task_queue=S3_QUEUE,
                        result_type=AgentResult,
                    )
                    handle, _ = await timed(start)
                    sizes_s3.append(sum(history_bytes(h) for h in await chain_of(s3, handle)) / 1000)
                    store_s3.append(await stored_bytes(s3, handle.id))
                handle, _ = await timed(start_baseline_agent(bench, n))
                chain = await chain_of(bench.baseline, handle)
                counts["baseline"].add(chain)
                sizes_baseline[n].append(sum(history_bytes(h) for h in chain) / 1000)
    growth_product = [b / a for a, b in zip(sizes_product[short], sizes_product[long], strict=True)]
    growth_baseline = [b / a for a, b in zip(sizes_baseline[short], sizes_baseline[long], strict=True)]
    return [
        Figure(
            "history_bytes",
            f"history bytes of a {long}-iteration agent, 2 KB replies, PAYLOAD_STORE=local "
            "(baseline: full transcript inline)",
            "KB",
            sizes_product[long],
            sizes_baseline[long],
            "value<=",
            250.0,
            counts=counts,
        ),
        Figure(
            "history_bytes_s3",
            f"history bytes of the same {long}-iteration agent, PAYLOAD_STORE=s3 (S3-compatible server; "
            "baseline: full transcript inline)",
            "KB",
            sizes_s3,
            sizes_baseline[long],
            "value<=",
            250.0,
        ),
        Figure(
            "store_bytes_s3",
            f"payload store with PAYLOAD_STORE=s3: bytes written to the bucket for the {long}-iteration agent "
            "(baseline column: the same with PAYLOAD_STORE=local)",
            "KB",
            store_s3,
            store_local,
            "info",
        ),
        Figure(
            "history_growth",
            f"history growth: bytes({long}) / bytes({short})",
            "x",
            growth_product,
            growth_baseline,
            "value<=",
            6.0,
            digits=2,
        ),
        Figure(
            "store_bytes",
            f"payload store: new bytes written for the {long}-iteration agent, PAYLOAD_STORE=local "
            "(baseline column: what content-addressing whole payloads would write)",
            "KB",
            store_local,
            whole_payloads,
            "info",
        ),
    ]


async def fan_out(bench: Bench, sizes: Sizes) -> list[Figure]:
    bench.model.config = ModelConfig(research_latency_s=0.2, reply_bytes=200)
    figures = []
    for n in sizes.fan_outs:
        product: list[float] = []
        baseline: list[float] = []
        counts = sides()
        # Three runs a side per repetition: a run is a few seconds, and one run's time is one sample
        # of a wide spread (fan-out 500 took 1.91-4.46 s in one full run's five).
        for rep in range(sizes.reps * 3):
            for is_product in in_turn(rep):
                topic = f"bench topic {uuid.uuid4().hex}"
                if is_product:
                    params = ResearchInput(topic=topic, max_subtopics=n, max_parallel=n)
                    handle, seconds = await timed(
                        bench.product.start_workflow(
                            "ResearchWorkflow",
                            params,
                            id=new_id("research"),
                            task_queue=PRODUCT_QUEUE,
                            result_type=ResearchResult,
                        )
                    )
                    result = await handle.result()
                    assert len(result.subtopics) == n and not result.failed_subtopics, result.failed_subtopics
                    product.append(seconds)
                    await count_into(counts["product"], bench.product, [handle])
                else:
                    handle, seconds = await timed(
                        bench.baseline.start_workflow(
                            "BaselineResearch",
                            BaselineResearchInput(topic=topic, subtopics=n),
                            id=new_id("baseline-research"),
                            task_queue=BASELINE_QUEUE,
                            result_type=BaselineReport,
                        )
                    )
                    assert len((await handle.result()).subtopics) == n
                    baseline.append(seconds)
                    await count_into(counts["baseline"], bench.baseline, [handle])
        figures.append(
            Figure(
                f"fan_out_{n}",
                f"fan-out of {n} research steps at 200 ms each (plan -> {n} steps -> synthesis)",
                "s",
                product,
                baseline,
                "ratio<=",
                1.1,
                digits=2,
                counts=counts,
            )
        )
    return figures


async def throughput(bench: Bench, sizes: Sizes) -> list[Figure]:
    bench.model.config = ModelConfig(reply_bytes=200)
    count, steps = sizes.concurrent_agents, sizes.agent_steps
    product: list[float] = []
    baseline: list[float] = []

    cpu: dict[bool, list[tuple[float, float]]] = {True: [], False: []}  # (server, worker) ms per step
    counts = sides()

    async def many(is_product: bool, measured: bool = True) -> float:
        began, cpu_before = time.perf_counter(), bench.cpu_seconds()
        starts = [
            start_product_agent(bench, steps) if is_product else start_baseline_agent(bench, steps)
            for _ in range(count)
        ]
        handles = await asyncio.gather(*starts)
        await asyncio.gather(*(handle.result() for handle in handles))
        elapsed, cpu_after = time.perf_counter() - began, bench.cpu_seconds()
        per_step = 1000 / (count * steps)
        if measured:
            cpu[is_product].append(
                ((cpu_after[0] - cpu_before[0]) * per_step, (cpu_after[1] - cpu_before[1]) * per_step)
            )
        # The warm-up's histories are read too: a retry or sticky miss there is reported all the same.
        client = bench.product if is_product else bench.baseline
        await count_into(counts["product" if is_product else "baseline"], client, handles)
        return count * steps / elapsed

    # One pair first, not counted: the first time 200 runs are open at once the process grows its
    # thread pool, heap and caches, and whichever side went first would pay for it.
    for is_product in in_turn(0):
        await many(is_product, measured=False)
    for rep in range(sizes.reps):
        for is_product in in_turn(rep):
            (product if is_product else baseline).append(await many(is_product))

    def worker_ratio() -> float:
        product_cpu = median(w for _, w in cpu[True])
        return median(w for _, w in cpu[False]) / product_cpu if product_cpu else 0.0

    def split(is_product: bool) -> str:
        server = median(s for s, _ in cpu[is_product])
        worker = median(w for _, w in cpu[is_product])
        return f"server {server:.1f} + worker {worker:.1f}"

    rate = Figure(
        "throughput",
        f"throughput: {count} concurrent {steps}-step agents on one worker",
        "steps/s",
        product,
        baseline,
        "ratio>=",
        0.95,
        notes=[
            f"CPU ms per step (medians): product {split(True)}; baseline {split(False)} "
            "(dev server, and this process with both workers); worker CPU per step, baseline / "
            f"product: {worker_ratio():.2f}",
            "after one warm-up pair of the same shape, not in the figures (its histories are in the "
            "live-retry and sticky-miss counts)",
        ],
        counts=counts,
    )
    worker_cpu = Figure(
        "worker_cpu",
        f"worker CPU per step of the same {count} agents (this process, /proc; the dev server apart)",
        "ms",
        [w for _, w in cpu[True]],
        [w for _, w in cpu[False]],
        "ratio<=",
        1.1,
        digits=2,
    )
    return [rate, worker_cpu]


async def long_agent(bench: Bench, sizes: Sizes) -> Figure:
    """The slowest workflow task of each run, product and raw loop in turn, `sizes.reps` times: one
    run's slowest task is one outlier (a full garbage-collector pass, a continued run's first task, a
    pause of the machine), so the figure is the median over runs, as for the other ratio rows.

    Each side's worker runs in a process of its own (`bench/worker_process.py`), as a deployed
    worker does: in one process one collector served both, and a pass freeing one side's garbage
    landed in whichever side's task was running (the row read 0.36x-1.73x of the same code;
    "Performance at parity", eleventh pass)."""
    n = sizes.long_agent_steps
    counts = sides()
    slowest: dict[bool, list[float]] = {True: [], False: []}
    product_seconds: list[float] = []
    product_tasks: list[float] = []
    first_chain: list = []
    async with worker_process_per_side(bench, "long") as per_side:
        queues = per_side.queues
        # Two runs a side per repetition: a run's slowest task is its one outlier, and five of them a
        # side gave medians 1.31x and 1.63x of the raw loop in two full runs of the same code.
        for rep in range(sizes.reps * 2):
            for is_product in in_turn(rep):
                if is_product:
                    handle, seconds = await timed(start_product_agent(bench, n, queue=queues[True]))
                    chain = await chain_of(bench.product, handle)
                    product_seconds.append(seconds)
                    first_chain = first_chain or chain
                else:
                    start = start_baseline_agent(bench, n, transcript="new", queue=queues[False])
                    handle, _ = await timed(start)
                    chain = await chain_of(bench.baseline, handle)
                counts["product" if is_product else "baseline"].add(chain)
                tasks = [s for h in chain for s in workflow_task_seconds(h)]
                slowest[is_product].append(max(tasks) * 1000)
                if is_product:
                    product_tasks.extend(tasks)
        passes = await per_side.collector_passes()
    replayer = Replayer(workflows=WORKFLOWS, data_converter=bench.product.data_converter)
    began = time.perf_counter()
    for history in first_chain:
        await replayer.replay_workflow(history)  # raises on non-determinism or a missing payload
    replay_seconds = time.perf_counter() - began
    events = sum(len(h.events) for h in first_chain)
    tail = sorted(product_tasks)[int(0.99 * (len(product_tasks) - 1))]
    return Figure(
        "workflow_task",
        f"workflow-task time of a {n}-step agent: slowest task of a run, median of runs (baseline: raw "
        "loop sending only new messages)",
        "ms",
        slowest[True],
        slowest[False],
        "ratio<=",
        1.5,
        counts=counts,
        notes=[
            slowest_note("run", slowest),
            f"the collector of each side's worker process: product's {passes[True].summary()}; "
            f"baseline's {passes[False].summary()}",
            f"a run: {len(product_tasks) // max(1, len(product_seconds))} workflow tasks in "
            f"{len(first_chain)} run(s) (continue-as-new), {events} events, took "
            f"{median(product_seconds):.1f} s (median); p99 task over all runs {tail * 1000:.1f} ms",
            f"replaying the first run's {len(first_chain)} histories with the product converter (payloads "
            f"read back from the store): {replay_seconds:.2f} s, deterministic",
        ],
    )


@dataclass
class SideWorkers:
    """A worker process per side (True: the product's), each polling a task queue of its own."""

    queues: dict[bool, str]
    processes: dict[bool, WorkerProcess] = field(default_factory=dict)

    async def collector_passes(self) -> dict[bool, CollectorPasses]:
        return {side: await process.collector_passes() for side, process in self.processes.items()}


@asynccontextmanager
async def worker_process_per_side(bench: Bench, name: str) -> AsyncIterator[SideWorkers]:
    """Starts `bench/worker_process.py --no-hang` for each side, ready before this yields, and stops
    both on the way out."""
    suffix = uuid.uuid4().hex[:8]
    per_side = SideWorkers({True: f"bench-{name}-product-{suffix}", False: f"bench-{name}-baseline-{suffix}"})
    try:
        for is_product in (True, False):
            role = "product" if is_product else "baseline"
            process = await WorkerProcess.spawn(role, bench, per_side.queues[is_product], hang=False)
            per_side.processes[is_product] = process
            await process.wait_for("ready")
        yield per_side
    finally:
        for process in per_side.processes.values():
            await process.stop()


# -- resume after SIGKILL -------------------------------------------------------------------------


BASELINE_RESUME_DELAY_S = 6.0


class WorkerProcess:
    def __init__(self, process: asyncio.subprocess.Process, spawned_at: float) -> None:
        self.process = process
        self.spawned_at = spawned_at
        self.ready_at = 0.0

    @classmethod
    async def spawn(cls, role: str, bench: Bench, queue: str, hang: bool = True) -> WorkerProcess:
        """`hang`: the third model call of an agent run hangs on its first attempt (resume)."""
        spawned_at = time.time()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.worker_process",
            role,
            bench.address,
            queue,
            str(bench.state_dir),
            *([] if hang else ["--no-hang"]),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "OTEL_SDK_DISABLED": os.environ.get("OTEL_SDK_DISABLED", "false")},
        )
        return cls(process, spawned_at)

    async def wait_for(self, line: str, timeout_s: float = 60.0) -> None:
        await self._next_line(lambda read: read == line, repr(line), timeout_s)
        self.ready_at = time.time() if line == "ready" else self.ready_at

    async def cpu_seconds(self, timeout_s: float = 10.0) -> float:
        """The process's CPU time so far, all threads, to the nanosecond (it answers SIGUSR1)."""
        self.process.send_signal(signal.SIGUSR1)
        said = await self._next_line(lambda read: read.startswith("cpu "), "its CPU time", timeout_s)
        return float(said.split()[1])

    async def collector_passes(self, timeout_s: float = 10.0) -> CollectorPasses:
        """The collector's passes in the process since it was ready (it answers SIGUSR2)."""
        self.process.send_signal(signal.SIGUSR2)
        said = await self._next_line(lambda read: read.startswith("passes "), "its passes", timeout_s)
        return CollectorPasses.from_json(said.removeprefix("passes "))

    async def _next_line(self, wanted: Callable[[str], bool], what: str, timeout_s: float) -> str:
        """The process's next stdout line that is `wanted` (stripped), the lines before it skipped."""
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout_s):
            while True:
                read = await self.process.stdout.readline()
                if not read:
                    raise RuntimeError(f"worker process exited before saying {what}")
                if wanted(line := read.decode().strip()):
                    return line

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        self.kill()
        await self.process.wait()


async def resume_once(bench: Bench, role: str, kill_after_s: float, counts: Counts) -> tuple[float, float]:
    """Seconds from the replacement's spawn to the interrupted model call completing on it, and to
    the replacement polling (its start-up)."""
    queue = f"bench-resume-{role}-{uuid.uuid4().hex[:8]}"
    first = await WorkerProcess.spawn(role, bench, queue)
    replacement: WorkerProcess | None = None
    try:
        await first.wait_for("ready")
        if role == "product":
            handle = await start_product_agent(bench, 4, queue=queue)
            client = bench.product
        else:
            handle = await start_baseline_agent(bench, 4, queue=queue)
            client = bench.baseline
        await first.wait_for("hanging")  # the third model call is in flight on this worker
        await asyncio.sleep(kill_after_s)
        await first.stop()
        replacement = await WorkerProcess.spawn(role, bench, queue)
        ready = asyncio.create_task(replacement.wait_for("ready"))
        await asyncio.wait_for(handle.result(), timeout=180)
        await ready
        chain = await chain_of(client, handle)
        counts.add(chain)
        completed = [t for h in chain for t in activity_completions(h, "llm.complete")]
        resumed = min(t for t in completed if t >= replacement.spawned_at) - replacement.spawned_at
        return resumed, replacement.ready_at - replacement.spawned_at
    finally:
        await first.stop()
        if replacement is not None:
            await replacement.stop()


async def resume(bench: Bench, sizes: Sizes) -> Figure:
    """Product and baseline runs overlap: the baseline's kill and replacement fall while the product
    waits for its heartbeat timeout, so neither start-up competes with the other for the CPU.

    Where in the heartbeat cycle a crash falls decides how long Temporal takes to notice it, so the
    kill comes at several points of the model call (`sizes.kill_offsets`, spread over more than one
    heartbeat interval): the figure is over those, as a crash at a random moment is."""
    product: list[float] = []
    baseline: list[float] = []
    startups: dict[str, list[float]] = {"product": [], "baseline": []}
    counts = sides()

    async def later(seconds: float, kill_after_s: float) -> tuple[float, float]:
        await asyncio.sleep(seconds)
        return await resume_once(bench, "baseline", kill_after_s, counts["baseline"])

    for kill_after_s in sizes.kill_offsets:
        (p, p_start), (b, b_start) = await asyncio.gather(
            resume_once(bench, "product", kill_after_s, counts["product"]),
            later(BASELINE_RESUME_DELAY_S, kill_after_s),
        )
        product.append(p)
        baseline.append(b)
        startups["product"].append(p_start)
        startups["baseline"].append(b_start)
    offsets = ", ".join(f"{k:g}" for k in sizes.kill_offsets)
    return Figure(
        "resume",
        f"resume after the worker is SIGKILLed mid-step ({offsets} s into the model call): "
        "replacement spawn -> that call completed on the replacement (baseline: heartbeat timeout 1 s)",
        "s",
        product,
        baseline,
        "value<=",
        2.5,
        digits=2,
        counts=counts,
        killed=len(sizes.kill_offsets),  # one call per run is in flight on the killed worker
        notes=[
            f"by kill offset ({offsets} s): product "
            + ", ".join(f"{v:.2f}" for v in product)
            + " s; baseline "
            + ", ".join(f"{v:.2f}" for v in baseline)
            + " s",
            "replacement process start-up (spawn -> polling): product "
            + ", ".join(f"{v:.2f}" for v in startups["product"])
            + " s; baseline "
            + ", ".join(f"{v:.2f}" for v in startups["baseline"])
            + " s",
        ],
    )


def state_dir_size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
