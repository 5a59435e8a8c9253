"""A run of the current patch generation (workflows/patches.py) on a real worker and the time-skipping
server: one patch marker in each run (not one per patch it passes), and its start in one upsert
(tenant, approvers, phase, cost), where a run before took a marker and a TemporalChangeVersion upsert
per patch and an upsert per attribute. Runs recorded before still replay (tests/replay)."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from common.search_attributes import APPROVERS, COST_USD, PHASE, TENANT
from tests.history_events import markers, upserted_keys
from workflows.agent import AgentWorkflow
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput, AgentResult
from workflows.patches import GENERATION

pytestmark = pytest.mark.timeout(90)

CHANGE_VERSION = "TemporalChangeVersion"


async def test_an_agent_run_takes_one_patch_and_announces_its_start_in_one_upsert(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    steps = [
        {
            "match": {"step_kind": "agent", "turn": n},
            "reply": {"tool_calls": [{"name": "calculator", "input": {"expression": f"{n} + 1"}}]},
        }
        for n in range(2)
    ]
    model = ScriptedModel([*steps, {"match": {"step_kind": "agent", "turn": 2}, "reply": {"text": "done"}}])
    params = AgentInput(
        goal="count",
        tools=["calculator"],
        approvers=["alice"],
        tenant="acme",
        continue_as_new_after_iterations=2,
    )
    async with kit_worker(workflows=[AgentWorkflow], model=model) as worker:
        handle = await kit_env.client.start_workflow(
            AgentWorkflow.run, params, id=f"generation-{uuid.uuid4().hex[:8]}", task_queue=worker.task_queue
        )
        result = await kit_env.client.get_workflow_handle(handle.id, result_type=AgentResult).result()
        first = await kit_env.client.get_workflow_handle(
            handle.id, run_id=handle.first_execution_run_id
        ).fetch_history()
        last = await kit_env.client.get_workflow_handle(handle.id).fetch_history()
        attributes = (await kit_env.client.get_workflow_handle(handle.id).describe()).typed_search_attributes

    assert result.outcome == "completed" and result.runs == 2
    # The first run passes the tenant, sparse-upsert and seal patches; the continued one the seal's
    # check and the stash: one marker each.
    assert markers(first) == [GENERATION]
    assert markers(last) == [GENERATION]
    announced = sorted([APPROVERS.name, COST_USD.name, PHASE.name, TENANT.name])
    assert upserted_keys(first)[:2] == [[CHANGE_VERSION], announced]
    assert [keys for keys in upserted_keys(first) if CHANGE_VERSION in keys] == [[CHANGE_VERSION]]
    assert attributes.get(TENANT) == "acme" and attributes.get(APPROVERS) == ["alice"]
    assert attributes.get(PHASE) == "completed"
