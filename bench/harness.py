"""What every figure runs on: one dev server (free port, fast-dispatch config, its own state dir), a
product client (`common.client.connect`: the product's converter with external storage, tracing
plugin) and a baseline client (plain pydantic converter), and one in-process worker for each, both
calling the same `BenchModel` through the same activity objects."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.run_state import RUN_STATE_ACTIVITIES
from bench.model import BenchModel
from bench.workers import BASELINE_QUEUE, PRODUCT_QUEUE, baseline_worker, bench_activities, bench_settings
from common.client import connect
from common.devserver import dev_server_args, temporal_binary, wait_for_port
from common.payload_store import ContentAddressedDriver
from common.settings import Settings
from worker.app import build_worker
from worker.gc_policy import settle_heap
from worker.inflight import WorkerLease
from worker.reaper import DEAD_WORKER_CHECK_S, watch_for_dead_workers


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Bench:
    address: str
    state_dir: Path
    settings: Settings
    product: Client
    baseline: Client
    model: BenchModel
    server_pid: int

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time used so far by the dev server (with its children) and by this process."""
        server = 0.0
        try:
            fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
            server = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass  # not Linux: the figure goes without the split
        own = os.times()
        return server, own.user + own.system

    @property
    def store(self) -> ContentAddressedDriver:
        storage = self.product.data_converter.external_storage
        assert storage is not None, "the product converter has external storage on"
        driver = storage.drivers[0]
        assert isinstance(driver, ContentAddressedDriver)
        return driver


def start_memory_dev_server(port: int, log_file: Path) -> subprocess.Popen[bytes]:
    """The embedded dev server's flags (search attributes, fast dispatch), but its state in memory:
    on a SQLite file every history write waits for the disk, and both sides would measure the disk."""
    command = [temporal_binary(), "server", "start-dev", *dev_server_args(port=port, ui_port=None)]
    with open(log_file, "ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@asynccontextmanager
async def running_bench(state_dir: Path) -> AsyncIterator[Bench]:
    port = free_port()
    server = start_memory_dev_server(port, state_dir / "temporal-server.log")
    try:
        wait_for_port("127.0.0.1", port)
        address = f"127.0.0.1:{port}"
        settings = bench_settings(address, state_dir)
        product = await connect(settings, wait_s=60)
        baseline = await Client.connect(address, data_converter=pydantic_data_converter)
        model = BenchModel()
        activities = bench_activities(settings, model)
        # As `python -m worker` runs: its attempts recorded under a lease, watching for dead peers.
        lease = WorkerLease.acquire(settings.worker_lease_dir)
        reaper = asyncio.create_task(
            watch_for_dead_workers(product, settings.worker_lease_dir, DEAD_WORKER_CHECK_S, own=lease.name)
        )
        try:
            async with (
                # The product's long agents continue-as-new, sealing the state they hand over.
                build_worker(
                    product,
                    settings,
                    task_queue=PRODUCT_QUEUE,
                    activities=[*activities, *RUN_STATE_ACTIVITIES],
                    lease=lease,
                ),
                baseline_worker(baseline, settings, activities, BASELINE_QUEUE),
            ):
                settle_heap()  # as `python -m worker` does once its worker is built (worker/__main__.py)
                yield Bench(address, state_dir, settings, product, baseline, model, server.pid)
        finally:
            reaper.cancel()
            lease.release()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
