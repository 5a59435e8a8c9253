"""A fork whose source is of a type this code has no workflow for (a client can name any run as
`fork_from`) is refused in one line, as a replay failure: the replay is given only the source's type,
and a `Replayer` with no workflow at all raises a bare ValueError instead (retried by the worker's
activity, a traceback in `starter fork`)."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from activities.fork_replay import replay_steps
from common.run_chain import read_chain
from tests.fork.probe_source import finished_probe_source
from worker.plugin import KIT_MODULES
from workflows.agent import AgentWorkflow
from workflows.kit.pytest_plugin import KitWorkerFactory


async def test_a_source_of_a_type_this_code_lacks_is_a_replay_failure(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    client = kit_env.client
    source = await finished_probe_source(client, kit_worker, kit_task_queue, "fork-unknown")
    chain = await read_chain(client, source.id, source.first_execution_run_id or "")
    replayed = await replay_steps(chain.histories, [AgentWorkflow], client.data_converter, KIT_MODULES)
    assert replayed.steps == []
    assert replayed.failure is not None and "ForkProbeWorkflow" in replayed.failure
    assert "\n" not in replayed.failure
