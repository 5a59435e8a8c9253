"""A worker in its own process, for the figures that need one: the resume figure (the harness
SIGKILLs it mid-step), the idle sessions' CPU, and the 1,000-step agent's and the 500-turn session's
slowest tasks (each side's garbage collected by its own process's collector):
`python -m bench.worker_process product|baseline ADDRESS TASK_QUEUE STATE_DIR [--no-hang]`.

Prints `ready` once it polls and `hanging` when the model call it will never finish is in flight
(with `--no-hang` no call hangs). On SIGUSR1 it prints `cpu SECONDS`: its CPU time so far, all
threads, to the nanosecond (the idle sessions' figure; /proc counts 10 ms clock ticks, too coarse
for a window of a few ms of CPU). On SIGUSR2 it prints `passes JSON`: its collector's passes since
it was ready (`bench.collector.CollectorPasses`).
The product role is the product's worker (`build_worker`, the product client and settings); the
baseline role is a plain SDK worker with the baseline workflows.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.run_state import RUN_STATE_ACTIVITIES
from bench.collector import CollectorPasses, counting_passes
from bench.model import BenchModel, ModelConfig
from bench.workers import baseline_worker, bench_activities, bench_settings
from worker.gc_policy import settle_heap

HANG_TURN = 2  # the third model call of a run hangs on its first attempt


def say(line: str) -> None:
    print(line, flush=True)


async def main(role: str, address: str, queue: str, state_dir: Path, hang: bool = True) -> None:
    # The workers of one resume run (the killed one and its replacement) share a lease directory of
    # their own: the replacement, not the harness's in-process worker, finds the dead one's attempts,
    # as on a machine that runs one worker.
    settings = bench_settings(
        address, state_dir, temporal_task_queue=queue, worker_lease_dir=state_dir / "workers" / queue
    )
    config = ModelConfig(hang_first_attempt_of=HANG_TURN if hang else None)
    model = BenchModel(config, on_hang=lambda: say("hanging"))
    activities = bench_activities(settings, model)
    background: list[asyncio.Task[None]] = []  # kept referenced for the process's life
    worker: Worker
    if role == "product":
        # The product worker's own imports (its LLM SDKs, telemetry) are part of its start-up.
        from common.client import connect
        from worker.app import build_worker
        from worker.inflight import WorkerLease
        from worker.reaper import DEAD_WORKER_CHECK_S, reap_quietly, watch_for_dead_workers

        client = await connect(settings, wait_s=30)
        lease = WorkerLease.acquire(settings.worker_lease_dir)
        await reap_quietly(client, settings.worker_lease_dir, own=lease.name)
        background.append(
            asyncio.create_task(
                watch_for_dead_workers(client, settings.worker_lease_dir, DEAD_WORKER_CHECK_S, own=lease.name)
            )
        )
        # As the harness's product worker: its long agents continue-as-new, sealing what they carry.
        worker = build_worker(
            client, settings, task_queue=queue, activities=[*activities, *RUN_STATE_ACTIVITIES], lease=lease
        )
    else:
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        worker = baseline_worker(client, settings, activities, queue)
    settle_heap()  # as `python -m worker` does
    # CLOCK_PROCESS_CPUTIME_ID: every thread's time, those that ended too.
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGUSR1, lambda: say(f"cpu {time.process_time():.9f}")
    )
    passes = CollectorPasses()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, lambda: say(f"passes {passes.to_json()}"))
    async with worker:
        with counting_passes(passes):
            say("ready")
            await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    role, address, queue, state_dir = (a for a in sys.argv[1:] if a != "--no-hang")
    asyncio.run(main(role, address, queue, Path(state_dir), hang="--no-hang" not in sys.argv[1:]))
