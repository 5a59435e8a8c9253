"""What every figure runs on: one dev server (free port, fast-dispatch config, its own state dir), a
product client (`common.client.connect`: the product's converter with external storage, tracing
plugin) and a baseline client (plain pydantic converter), and one in-process worker for each, both
calling the same `BenchModel` through the same activity objects."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.tools.read_only import ToolActivities
from bench.baseline import BASELINE_WORKFLOWS
from bench.model import BenchModel
from common.client import connect
from common.devserver import start_dev_server, wait_for_port
from common.payload_store import ContentAddressedDriver
from common.settings import Settings, try_load_settings
from worker.app import build_worker

PRODUCT_QUEUE = "bench-product"
BASELINE_QUEUE = "bench-baseline"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_settings(address: str, state_dir: Path, **overrides: Any) -> Settings:
    """The product's settings for a bench worker: defaults, except where this run keeps its state."""
    values: dict[str, Any] = {
        "temporal_address": address,
        "temporal_task_queue": PRODUCT_QUEUE,
        "llm_provider": "offline",  # replaced by the bench model; no key of the shell is used
        "payload_keys": None,
        "payload_store_dir": state_dir / "payloads",
        "dedupe_ledger_path": state_dir / "dedupe-ledger.sqlite3",
        "_env_file": None,
    }
    return try_load_settings(**{**values, **overrides})


def bench_activities(settings: Settings, model: BenchModel) -> list[Callable[..., Any]]:
    llm = LLMActivities(model, PriceTable.load(None))
    return [llm.complete, *ToolActivities.from_settings(settings).all()]


def baseline_worker(
    client: Client, settings: Settings, activities: list[Callable[..., Any]], queue: str
) -> Worker:
    """A plain SDK worker with the same concurrency and sticky-queue tuning as the product's."""
    return Worker(
        client,
        task_queue=queue,
        workflows=BASELINE_WORKFLOWS,
        activities=activities,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.worker_sticky_queue_timeout_s),
    )


@dataclass
class Bench:
    address: str
    state_dir: Path
    settings: Settings
    product: Client
    baseline: Client
    model: BenchModel

    @property
    def store(self) -> ContentAddressedDriver:
        storage = self.product.data_converter.external_storage
        assert storage is not None, "the product converter has external storage on"
        driver = storage.drivers[0]
        assert isinstance(driver, ContentAddressedDriver)
        return driver


@asynccontextmanager
async def running_bench(state_dir: Path) -> AsyncIterator[Bench]:
    port = free_port()
    server = start_dev_server(port=port, ui_port=None, state_dir=state_dir / "server")
    try:
        wait_for_port("127.0.0.1", port)
        address = f"127.0.0.1:{port}"
        settings = bench_settings(address, state_dir)
        product = await connect(settings, wait_s=60)
        baseline = await Client.connect(address, data_converter=pydantic_data_converter)
        model = BenchModel()
        activities = bench_activities(settings, model)
        async with (
            build_worker(product, settings, task_queue=PRODUCT_QUEUE, activities=activities),
            baseline_worker(baseline, settings, activities, BASELINE_QUEUE),
        ):
            yield Bench(address, state_dir, settings, product, baseline, model)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
