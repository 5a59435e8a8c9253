"""What retention does to a run, for the sweep's tests: Temporal deletes its history, and a fresh
process replays a history from nothing but the store."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Replayer

from common.converter import build_data_converter, storage_for
from common.payload_store import LocalObjectStore
from common.payload_store_config import object_store_from_settings
from common.settings import Settings
from workflows.registry import WORKFLOWS

__all__ = ["deleted", "replays_fresh"]


async def deleted(client: Client, workflow_id: str) -> None:
    """What Temporal does once retention has passed: the run and its history are gone."""
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        )
    )
    deadline = time.monotonic() + 120
    while True:  # the server deletes it in a background task (about 30 s on the dev server)
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError:
            return
        assert time.monotonic() < deadline, "the run was not deleted"
        await asyncio.sleep(0.1)


async def replays_fresh(client: Client, handle: WorkflowHandle, settings: Settings) -> None:
    """Replays the run's history with a converter on a new driver, as a restarted worker would:
    every reference in it must resolve from the store itself, not from a worker's memory."""
    store = object_store_from_settings(settings)
    assert store is not None
    fresh = dataclasses.replace(
        build_data_converter(settings),
        external_storage=storage_for(
            LocalObjectStore(settings.payload_store_dir.resolve())
            if settings.payload_store == "local"
            else store,
            settings.payload_store_threshold_bytes,
        ),
    )
    await Replayer(workflows=WORKFLOWS, data_converter=fresh).replay_workflow(await handle.fetch_history())
