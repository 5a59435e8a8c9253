"""`RunContext.carry(stream_items_kept=...)` hands the next run the stream's newest items only, at
their offsets (a watcher's offset stays valid), through a real worker on the time-skipping server."""

from __future__ import annotations

import base64
import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import default
from temporalio.testing import WorkflowEnvironment

from tests.workflow.carry_stream_workflow import CarriedStream, CarryStreamInput, CarryStreamWorkflow
from workflows.kit.pytest_plugin import KitWorkerFactory

pytestmark = pytest.mark.timeout(60)


def decoded(wire: str) -> object:
    payload = Payload()
    payload.ParseFromString(base64.b64decode(wire))
    return default().payload_converter.from_payload(payload)


async def carried(
    env: WorkflowEnvironment, kit_worker: KitWorkerFactory, items: int, kept: int
) -> CarriedStream:
    async with kit_worker(workflows=[CarryStreamWorkflow]) as worker:
        handle = await env.client.start_workflow(
            CarryStreamWorkflow.run,
            CarryStreamInput(items=items, kept=kept),
            id=f"carry-stream-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        return await env.client.get_workflow_handle(handle.id, result_type=CarriedStream).result()


async def test_the_next_run_gets_the_newest_items_at_their_offsets(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    everything = await carried(kit_env, kit_worker, items=6, kept=1000)
    newest = await carried(kit_env, kit_worker, items=6, kept=3)

    assert everything.base_offset == 0
    assert [decoded(item) for item in everything.items][-6:] == [f"item {n}" for n in range(6)]
    assert [decoded(item) for item in newest.items] == ["item 3", "item 4", "item 5"]
    # The items keep their offsets: the dropped ones are counted in the base.
    assert newest.base_offset == len(everything.items) - 3
