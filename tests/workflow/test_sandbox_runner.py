"""The product's worker runs workflows in `CompiledOnceSandboxRunner` (worker/sandbox_runner.py): the
SDK's sandbox, whose snippets are compiled once per process. A run on a real worker shows that the
runner is in use, that it compiles each snippet once however many payloads it visits, and that the
sandbox still restricts a workflow as the SDK's does. This fails when the SDK's private method the
runner overrides changes shape (the workflow task would fail)."""

from __future__ import annotations

import gc
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflow.sandbox_probe import SandboxProbeWorkflow
from worker.sandbox_runner import CompiledOnceSandboxRunner, compiled_snippet
from workflows.agent import AgentWorkflow
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput

pytestmark = pytest.mark.timeout(90)


def calculator_agent(calls: int, expression: str) -> ScriptedModel:
    """An agent's model that asks the calculator `calls` times (`expression` with `{n}`, the
    turn), then answers."""
    turns = [
        {
            "match": {"step_kind": "agent", "turn": n},
            "reply": {
                "tool_calls": [{"name": "calculator", "input": {"expression": expression.format(n=n)}}]
            },
        }
        for n in range(calls)
    ]
    return ScriptedModel(
        [*turns, {"match": {"step_kind": "agent", "turn": calls}, "reply": {"text": "done"}}]
    )


async def test_workflows_run_in_the_compiled_once_sandbox_and_it_still_restricts_them(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    model = calculator_agent(3, "{n} * 2")
    async with kit_worker(workflows=[AgentWorkflow, SandboxProbeWorkflow], model=model) as worker:
        assert isinstance(worker.config(active_config=True)["workflow_runner"], CompiledOnceSandboxRunner)
        before = compiled_snippet.cache_info()
        result = await kit_env.client.execute_workflow(
            AgentWorkflow.run,
            AgentInput(goal="double", tools=["calculator"]),
            id=f"compiled-once-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        after = compiled_snippet.cache_info()
        probe = await kit_env.client.execute_workflow(
            SandboxProbeWorkflow.run,
            "probe",
            id=f"probe-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )

    assert result.outcome == "completed"
    # Every activation and every payload's context look-up ran a snippet; each was compiled once.
    assert after.hits - before.hits > 10
    assert after.misses - before.misses <= 6  # the import of the workflow class and a fixed few others
    assert probe == "probe: restricted"


async def test_a_run_s_workflow_object_lets_go_of_its_state_when_the_run_leaves_the_cache(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    """The SDK's instance of a run is cyclic; what the run's object held (its transcript among it)
    is dropped at eviction, so reference counting frees it instead of the collector's next older
    pass. With the collector off, the ended run's object is still in memory: it must be empty."""
    model = calculator_agent(2, "{n} + 1")
    gc.collect()
    gc.disable()
    try:
        async with kit_worker(workflows=[AgentWorkflow], model=model) as worker:
            result = await kit_env.client.execute_workflow(
                AgentWorkflow.run,
                AgentInput(goal="add", tools=["calculator"]),
                id=f"released-{uuid.uuid4().hex[:8]}",
                task_queue=worker.task_queue,
            )
        # The worker has shut down: every run it cached has been evicted.
        run_objects = [o for o in gc.get_objects() if type(o).__name__ == "AgentWorkflow"]
    finally:
        gc.enable()
    assert result.outcome == "completed"
    assert run_objects, "the ended run's object was freed before it could be looked at"
    assert [vars(o) for o in run_objects] == [{} for _ in run_objects]
