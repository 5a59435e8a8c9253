"""A workflow of one's own that continues-as-new with `ctx.carry`: its step records reach the next
run through the payload store, and the next run numbers its steps on from them (a tool call's
idempotency key is its step's number, so a repeated number would take an earlier call's result).
Through a real worker on the time-skipping server."""

from __future__ import annotations

import json
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from common.run_chain import read_chain
from tests.history_events import continued_input
from tests.workflow.carry_steps_workflow import CarryStepsInput, CarryStepsWorkflow
from workflows.kit.pytest_plugin import KitWorkerFactory

pytestmark = pytest.mark.timeout(60)


async def test_the_next_run_reads_the_steps_back_and_numbers_on(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    async with kit_worker(workflows=[CarryStepsWorkflow]) as worker:
        handle = await kit_env.client.start_workflow(
            CarryStepsWorkflow.run,
            CarryStepsInput(runs=3, per_run=2),
            id=f"carry-steps-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        steps = await handle.result()
        chain = await read_chain(kit_env.client, handle.id, handle.first_execution_run_id or "")

    assert [step.step for step in steps] == [f"tool {n} calculator" for n in range(1, 7)]
    assert all(step.ok for step in steps)
    carried = [json.loads(continued_input(history).data)["carried"] for history in chain.histories[:-1]]
    assert [state["steps"] for state in carried] == [[], []]
    assert all(state["steps_stash"] for state in carried)
