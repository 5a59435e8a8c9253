"""The eval export reads a run chain the way a fork does (common/run_chain.py): a run that continued
as new is read back from its first run, whichever run of the chain names it, with every model call of
every run, and an unknown run is a `StarterError`."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from starter.api import StarterError
from starter.eval.history import read_run
from workflows.agent import AgentWorkflow
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput


def two_tool_turns() -> ScriptedModel:
    """calculator, calculator, answer: three model calls, one a run with continue-as-new after each."""
    return ScriptedModel(
        [
            {
                "match": {"step_kind": "agent", "turn": turn},
                "reply": {"tool_calls": [{"name": "calculator", "input": {"expression": expression}}]},
            }
            for turn, expression in ((0, "17 * 23"), (1, "6 * 7"))
        ]
        + [{"match": {"step_kind": "agent", "turn": 2}, "reply": {"text": "391 and 42"}}]
    )


async def test_a_chain_is_read_from_its_first_run_whichever_run_names_it(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    params = AgentInput(goal="17 * 23 and 6 * 7?", tools=["calculator"], continue_as_new_after_iterations=1)
    async with kit_worker(model=two_tool_turns()):
        handle = await kit_env.client.start_workflow(
            AgentWorkflow.run, params, id=f"eval-chain-{uuid.uuid4().hex[:8]}", task_queue=kit_task_queue
        )
        await handle.result()
        first = handle.first_execution_run_id
        last = (await kit_env.client.get_workflow_handle(handle.id).describe()).run_id
        assert first is not None and first != last
        by_last = await read_run(kit_env.client, handle.id)
        by_first = await read_run(kit_env.client, handle.id, first)
    for recorded in (by_last, by_first):
        assert recorded.run_id == first and recorded.status == "completed"
        assert recorded.input["goal"] == params.goal  # the first run's input, not a carried one
        assert [call.step for call in recorded.model_calls] == ["llm step 1", "llm step 2", "llm step 3"]
        assert [call.observation for call in recorded.tool_calls()] == ["391", "42"]
        assert recorded.answer() == "391 and 42"


async def test_an_unknown_run_is_one_starter_error(kit_env: WorkflowEnvironment) -> None:
    with pytest.raises(StarterError, match=r"^no run 'eval-chain-none' \(0{8}-"):
        await read_run(kit_env.client, "eval-chain-none", "00000000-0000-0000-0000-000000000000")
