"""The worker settings crash recovery depends on reach the SDK worker (docs/operations.md, "Recovery
settings"): a short sticky timeout, heartbeats sent well within the heartbeat timeout, and a bounded
workflow-task thread pool that leaves the event loop time to send them."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from common.settings import Settings, SettingsError, try_load_settings
from worker.app import build_worker
from worker.inflight import RecordInFlight, WorkerLease
from worker.plugin import HEARTBEAT_SEND_INTERVAL
from workflows.activity_options import LIVENESS_HEARTBEAT


async def test_build_worker_applies_the_recovery_settings(dev_client: Client, settings: Settings) -> None:
    tuned = settings.model_copy(
        update={"worker_max_concurrent_workflow_tasks": 7, "worker_sticky_queue_timeout_s": 1.5}
    )
    config = build_worker(dev_client, tuned).config(active_config=True)  # as the plugin set it
    assert config["max_concurrent_workflow_tasks"] == 7
    assert config["sticky_queue_schedule_to_start_timeout"].total_seconds() == 1.5
    assert config["max_heartbeat_throttle_interval"] == HEARTBEAT_SEND_INTERVAL
    # At least half the heartbeat timeout is slack for a busy event loop or network.
    assert HEARTBEAT_SEND_INTERVAL * 2 <= LIVENESS_HEARTBEAT


def test_workflow_task_concurrency_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", "0")
    with pytest.raises(SettingsError, match="WORKER_MAX_CONCURRENT_WORKFLOW_TASKS"):
        try_load_settings(_env_file=None)


async def test_a_worker_with_a_lease_journals_its_attempts(
    dev_client: Client, settings: Settings, tmp_path: Path
) -> None:
    lease = WorkerLease.acquire(tmp_path)
    try:
        with_lease = build_worker(dev_client, settings, lease=lease).config(active_config=True)
        without = build_worker(dev_client, settings, task_queue=f"{settings.temporal_task_queue}-2").config(
            active_config=True
        )
    finally:
        lease.release()
    assert any(isinstance(i, RecordInFlight) for i in with_lease["interceptors"])
    assert not any(isinstance(i, RecordInFlight) for i in without["interceptors"])
