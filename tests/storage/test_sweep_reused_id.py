"""A workflow id reused after the sweep: the long-lived worker that wrote the first run's objects
writes them again for the second run instead of trusting its memory of having written them (the
sweep deleted them), so the second run's history resolves from the store alone (issue 29)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import StorageDriverStoreContext, StorageDriverWorkflowInfo

from common.payload_store import SCOPES, ContentAddressedDriver, LocalObjectStore, workflow_scope
from common.payload_store_config import object_store_from_settings
from common.settings import Settings
from tests.storage.retention import deleted, replays_fresh
from tests.storage.stored_agent import store_worker
from worker.payload_sweep import sweep
from workflows.models import AgentInput, AgentResult


class CountingStore(LocalObjectStore):
    """The local store, counting the `exists` checks the driver asks (the hot path's cost)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.exists_calls = 0

    async def exists(self, key: str) -> bool:
        self.exists_calls += 1
        return await super().exists(key)


def for_run(run_id: str) -> StorageDriverStoreContext:
    return StorageDriverStoreContext(
        target=StorageDriverWorkflowInfo(namespace="default", id="agent-1", run_id=run_id)
    )


async def test_the_driver_remembers_writes_for_one_run_only(tmp_path: Path) -> None:
    """Within a run, what was written is not asked again (the sweep keeps a held run's objects);
    the next run under the same id checks the store and writes back what the sweep deleted."""
    store = CountingStore(tmp_path)
    driver = ContentAddressedDriver(store, min_object_bytes=64)
    steps = [{"step": step, "text": "x" * 200} for step in range(20)]
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(steps).encode())
    first = await driver.store(for_run("run-1"), [payload])
    written, asked = driver.counters.objects_written, store.exists_calls
    assert written > 3
    assert await driver.store(for_run("run-1"), [payload]) == first
    assert store.exists_calls == asked and driver.counters.objects_written == written  # from memory

    scope = f"{SCOPES}/{workflow_scope('agent-1')}/"
    await store.delete([item.name for item in await store.list_objects(scope)])  # the sweep's deletion
    assert await driver.store(for_run("run-2"), [payload]) == first
    assert driver.counters.objects_written == 2 * written
    assert len(await store.list_objects(scope)) == written


async def agent_run(client: Client, queue: str, workflow_id: str, goal: str) -> WorkflowHandle:
    handle = await client.start_workflow(
        "AgentWorkflow",
        AgentInput(goal=goal, tools=["calculator"], max_iterations=3),
        id=workflow_id,
        task_queue=queue,
        result_type=AgentResult,
    )
    result = await handle.result()
    assert result.iterations == 3 and result.outcome == "max_iterations"
    return handle


@pytest.mark.parametrize("kind", ["local", "s3"])
async def test_a_reused_id_after_the_sweep_writes_its_objects_again(
    dev_client: Client, settings: Settings, s3_settings: Settings, task_queue: str, kind: str
) -> None:
    settings = (s3_settings if kind == "s3" else settings).model_copy(
        update={"payload_store_threshold_bytes": 2000}
    )
    store = object_store_from_settings(settings)
    assert store is not None
    workflow_id, goal = f"reused-{uuid.uuid4().hex[:8]}", f"reused {uuid.uuid4().hex}"
    scope = f"{SCOPES}/{workflow_scope(workflow_id)}/"
    async with store_worker(dev_client, settings, reply_bytes=2048) as client:  # one worker throughout
        await agent_run(client, task_queue, workflow_id, goal)
        assert await store.list_objects(scope)

        await deleted(client, workflow_id)
        report = await sweep(client, store, delete=True, min_age_s=0)
        assert report.swept_scopes == [workflow_id] and await store.list_objects(scope) == []

        # The same input again, so every payload of the second run is one the worker stored before.
        again = await agent_run(client, task_queue, workflow_id, goal)
        assert await store.list_objects(scope)
        await replays_fresh(client, again, settings)  # every reference resolves from the store
    await store.aclose()
