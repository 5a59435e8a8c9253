"""Retention: `worker.payload_sweep` deletes the objects of workflows Temporal no longer holds and
keeps those of open runs and of closed runs within retention, which still replay from a fresh
process afterwards; with the local directory and with an S3 bucket (moto's server)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest
from temporalio.client import Client

from common.payload_store import SweepableStore
from common.payload_store_config import object_store_from_settings
from common.settings import Settings
from tests.chaos.processes import clean_environment
from tests.storage.retention import deleted, replays_fresh
from tests.storage.stored_agent import run_agent, store_worker
from worker.payload_sweep import sweep
from workflows.models import ResearchInput


async def store_bytes(store: SweepableStore) -> int:
    return sum(item.size for item in await store.list_objects())


@pytest.mark.parametrize("kind", ["local", "s3"])
async def test_the_sweep_keeps_what_retained_runs_need(
    dev_client: Client, settings: Settings, s3_settings: Settings, task_queue: str, kind: str
) -> None:
    settings = (s3_settings if kind == "s3" else settings).model_copy(
        update={"payload_store_threshold_bytes": 2000}
    )
    store = object_store_from_settings(settings)
    assert store is not None
    async with store_worker(dev_client, settings, reply_bytes=2048) as client:
        gone = await run_agent(client, task_queue, 4)
        gone_id = gone.workflow_id
        kept = await run_agent(client, task_queue, 4)
        # An open run: a report waiting for its approver.
        running = await client.start_workflow(
            "ResearchWorkflow",
            ResearchInput(topic=f"open {uuid.uuid4().hex}", max_subtopics=2, approvers=["ana"]),
            id=f"open-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        deadline = time.monotonic() + 60
        while (await running.query("status")).get("pending_approval") is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert len(await store.scopes()) == 3
        before = await store_bytes(store)

        await deleted(client, gone_id)
        dry = await sweep(client, store, delete=False, min_age_s=0)
        assert dry.swept_scopes == [gone_id] and dry.kept_scopes == 2
        assert await store_bytes(store) == before  # a dry run deletes nothing
        young = await sweep(client, store, delete=True, min_age_s=3600)
        assert young.swept_scopes == [] and young.young_scopes == 1  # just written: left alone
        report = await sweep(client, store, delete=True, min_age_s=0)
        assert report.swept_scopes == [gone_id] and report.swept_bytes > 0
        after = await store_bytes(store)
        assert after == before - report.swept_bytes and len(await store.scopes()) == 2

        await replays_fresh(client, client.get_workflow_handle(kept.workflow_id), settings)
        await replays_fresh(client, running, settings)
        await running.terminate("test over")
    await store.aclose()


async def test_the_sweep_command_reports_a_dry_run(
    dev_client: Client, settings: Settings, tmp_path: Path
) -> None:
    async with store_worker(
        dev_client, settings.model_copy(update={"payload_store_threshold_bytes": 2000}), 2048
    ) as client:
        await run_agent(client, settings.temporal_task_queue, 3)
    env = clean_environment(
        {
            "TEMPORAL_ADDRESS": dev_client.service_client.config.target_host,
            "PAYLOAD_STORE_DIR": str(settings.payload_store_dir),
        }
    )
    sweep_command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "worker.payload_sweep", env=env, cwd=tmp_path, stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(sweep_command.communicate(), timeout=60)
    assert sweep_command.returncode == 0, stderr.decode()
    report = stdout.decode()
    assert "workflows whose runs Temporal still holds: 1 (kept)" in report
    assert "would delete (dry run; --delete to act): 0 workflows" in report
