"""A fork's source chain whose runs are not all of one type (a run may continue-as-new as another
workflow) replays with each run's own class: the replay is given the chain's types, not only its
first run's, else a later run fails as if the code had changed."""

from __future__ import annotations

import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from activities.fork_replay import replay_steps
from common.run_chain import read_chain
from tests.fork.type_switch_workflows import SwitchedTo, SwitchesType
from worker.plugin import KIT_MODULES


async def test_a_chain_that_switches_type_replays_with_both_classes(ts_client: Client) -> None:
    queue = f"type-switch-{uuid.uuid4().hex[:8]}"
    async with Worker(ts_client, task_queue=queue, workflows=[SwitchesType, SwitchedTo]):
        handle = await ts_client.start_workflow(
            SwitchesType.run, "done", id=f"type-switch-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        assert await handle.result() == "done"
    chain = await read_chain(
        ts_client, handle.id, handle.first_execution_run_id or handle.result_run_id or ""
    )
    assert len(chain.histories) == 2
    replayed = await replay_steps(
        chain.histories, [SwitchesType, SwitchedTo], ts_client.data_converter, KIT_MODULES
    )
    assert replayed.failure is None
