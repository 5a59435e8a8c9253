"""Settings, activities and the baseline worker the harness and the worker processes share. Light
on purpose: a baseline worker process imports only the SDK and the activities (not the product's
worker module and its LLM SDKs), so its start-up is the raw SDK's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.tools.calculator import calculator
from bench.baseline import BASELINE_WORKFLOWS
from bench.model import BenchModel
from common.settings import Settings, try_load_settings

PRODUCT_QUEUE = "bench-product"
BASELINE_QUEUE = "bench-baseline"


def bench_settings(address: str, state_dir: Path, **overrides: Any) -> Settings:
    """The product's settings for a bench worker: defaults, except where this run keeps its state."""
    values: dict[str, Any] = {
        "temporal_address": address,
        "temporal_task_queue": PRODUCT_QUEUE,
        "llm_provider": "offline",  # replaced by the bench model; no key of the shell is used
        "payload_keys": None,
        "payload_store_dir": state_dir / "payloads",
        "dedupe_ledger_path": state_dir / "dedupe-ledger.sqlite3",
        "worker_lease_dir": state_dir / "workers",
        "run_state_key_file": state_dir / "run-state.key",
        "_env_file": None,
    }
    return try_load_settings(**{**values, **overrides})


def bench_activities(settings: Settings, model: BenchModel) -> list[Callable[..., Any]]:
    """The model call and the one tool the bench's agents use (`tool.calculator`)."""
    llm = LLMActivities(model, PriceTable.load(None))
    return [llm.complete, calculator.activity]


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
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.worker_sticky_queue_timeout_s),
    )
