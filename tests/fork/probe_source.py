"""A finished `ForkProbeWorkflow` run to fork or replay, made on a kit worker with a scripted model."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle

from tests.fork.probe_workflows import ForkProbe
from workflows.kit import KitInput
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel

__all__ = ["PROBE_MODEL", "finished_probe_source"]

PROBE_MODEL = [{"match": {"step_kind": "probe"}, "reply": {"text": "probed"}}]


async def finished_probe_source(
    client: Client, kit_worker: KitWorkerFactory, queue: str, prefix: str
) -> WorkflowHandle[Any, Any]:
    async with kit_worker(workflows=[ForkProbe], model=ScriptedModel(PROBE_MODEL)):
        source = await client.start_workflow(
            ForkProbe.run, KitInput(), id=f"{prefix}-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        await source.result()
    return source
