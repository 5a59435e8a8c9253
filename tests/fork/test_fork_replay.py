"""The worker's replay of a fork's source (activities/fork_replay.py) is built cheaply — only the
source's workflow type, each class validated in the sandbox once per process — and still refuses a
fork its code no longer makes: the worker replays every source, every time, with its own code (a
fork started straight from a client, no starter check before it, is refused by the worker alone)."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.fork_replay import replay_steps
from common.contracts.runs import ForkFrom
from common.run_chain import read_chain
from tests.fork.probe_source import PROBE_MODEL, finished_probe_source
from tests.fork.probe_workflows import ForkProbe, ForkProbeChanged
from tests.fork.unsandboxable import Unsandboxable
from worker.plugin import KIT_MODULES
from workflows.kit import KitInput
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel


async def fork(client: Client, queue: str, source: ForkFrom) -> str:
    handle = await client.start_workflow(
        "ForkProbeWorkflow",
        KitInput(fork_from=source),
        id=f"fork-replay-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
        result_type=str,
    )
    return await handle.result()


async def test_a_worker_refuses_a_fork_its_code_no_longer_makes_after_forking_it_before(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    client = kit_env.client
    source = await finished_probe_source(client, kit_worker, kit_task_queue, "fork-replay-src")
    assert source.result_run_id is not None
    at_two = ForkFrom(workflow_id=source.id, run_id=source.result_run_id, step=2)
    async with kit_worker(workflows=[ForkProbe], model=ScriptedModel(PROBE_MODEL)):
        # Twice on one worker: the second replay reuses the first one's sandbox validation.
        assert [await fork(client, kit_task_queue, at_two) for _ in range(2)] == ["probed", "probed"]

    async with kit_worker(workflows=[ForkProbeChanged], model=ScriptedModel(PROBE_MODEL)):
        with pytest.raises(WorkflowFailureError) as refused:
            await fork(client, kit_task_queue, at_two)
    message = str(getattr(refused.value.cause, "message", refused.value.cause))
    assert message.startswith("fork: the workflow code no longer matches the source's history before step 2")


async def test_the_replay_numbers_steps_with_only_the_source_type_and_again_with_changed_code(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    client = kit_env.client
    source = await finished_probe_source(client, kit_worker, kit_task_queue, "fork-replay-src")
    chain = await read_chain(client, source.id, source.first_execution_run_id or "")
    converter = client.data_converter
    for _ in range(2):
        same = await replay_steps(chain.histories, [Unsandboxable, ForkProbe], converter, KIT_MODULES)
        assert (same.failure, [s.step for s in same.steps]) == (None, ["first", "second"])
    changed = await replay_steps(chain.histories, [ForkProbeChanged], converter, KIT_MODULES)
    assert changed.failure is not None and changed.steps == []
