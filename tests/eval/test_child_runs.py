"""A child run started with `ctx.child` belongs to its parent's run: in eval mode it performs no side
effect either, and its model calls spend the parent's tenant's budget (a sub-agent's spend must not
escape the tenant's limit because a workflow author forgot to pass the tenant on)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from temporalio.testing import WorkflowEnvironment

from activities.kit import tool
from tests.eval.child_probe import CHILD_TOOL, ChildProbeWorkflow
from workflows.agent import AgentWorkflow
from workflows.kit import KitInput
from workflows.kit.eval_mode import SIMULATED
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentResult

NOTIFIED: list[str] = []


class Note(BaseModel):
    text: str


@tool(description="Notifies the team (counts its calls).", side_effect=True, approval="never")
async def child_probe_notify(params: Note) -> str:
    NOTIFIED.append(params.text)
    return "notified"


def child_model() -> ScriptedModel:
    return ScriptedModel(
        [
            {
                "match": {"step_kind": "agent", "turn": 0},
                "reply": {"tool_calls": [{"name": CHILD_TOOL, "input": {"text": "build passed"}}]},
            },
            {"match": {"step_kind": "agent", "turn": 1}, "reply": {"text": "told the team"}},
        ]
    )


async def test_a_child_of_an_eval_run_simulates_its_side_effects_and_spends_the_parents_tenant(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    NOTIFIED.clear()
    model = child_model()
    workflows = [ChildProbeWorkflow, AgentWorkflow]
    async with kit_worker(workflows=workflows, tools=[child_probe_notify], model=model) as worker:
        parent_id = f"child-probe-{uuid.uuid4().hex[:8]}"
        answer = await kit_env.client.execute_workflow(
            ChildProbeWorkflow.run,
            KitInput(eval_mode=True, tenant="acme"),
            id=parent_id,
            task_queue=worker.task_queue,
        )
        child_handle = kit_env.client.get_workflow_handle(f"{parent_id}/child", result_type=AgentResult)
        child = await child_handle.result()

    assert answer == "told the team"
    assert NOTIFIED == []  # the child's side effect was simulated, as its parent's would be
    [notify] = [s for s in child.steps if s.step.endswith(CHILD_TOOL)]
    assert notify.detail.startswith(SIMULATED)
    assert {request.tenant for request in model.requests} == {"acme"}
