"""A fork of an eval run (its side effects only simulated) that is not in eval mode itself must not
take a simulated side effect as done: the real run would go on as if the message had been sent
while nothing was. It fails in one line naming the step; forked from that step, it performs it."""

from __future__ import annotations

import uuid

import pytest
from pydantic import BaseModel
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.kit import tool
from workflows.agent import AgentWorkflow
from workflows.kit import ForkFrom
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput

SENT: list[str] = []


class Note(BaseModel):
    text: str


@tool(description="Posts a note (counts its calls).", side_effect=True, approval="never")
async def fork_eval_post(params: Note) -> str:
    SENT.append(params.text)
    return "posted"


def model() -> ScriptedModel:
    return ScriptedModel(
        [
            {
                "match": {"step_kind": "agent", "turn": 0},
                "reply": {"tool_calls": [{"name": "fork_eval_post", "input": {"text": "build passed"}}]},
            },
            {"match": {"step_kind": "agent", "turn": 1}, "reply": {"text": "posted the note"}},
        ]
    )


async def test_a_fork_out_of_eval_mode_does_not_take_a_simulated_side_effect_as_done(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    SENT.clear()
    params = AgentInput(goal="Post the note", tools=["fork_eval_post"])
    async with kit_worker(tools=[fork_eval_post], model=model()):
        source = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            params.model_copy(update={"eval_mode": True}),
            id=f"eval-source-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        recorded = await source.result()
        assert SENT == [] and [s.step for s in recorded.steps][1] == "tool 1.1 fork_eval_post"
        assert source.result_run_id is not None
        fork = ForkFrom(workflow_id=source.id, run_id=source.result_run_id, step=3)
        forked = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            params.model_copy(update={"fork_from": fork}),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await forked.result()
        # Forked from the simulated step itself, the real run performs it.
        again = ForkFrom(workflow_id=source.id, run_id=source.result_run_id, step=2)
        performed = await kit_env.client.execute_workflow(
            AgentWorkflow.run,
            params.model_copy(update={"fork_from": again}),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )

    message = str(getattr(failure.value.cause, "message", failure.value.cause))
    assert message.startswith("fork: step 2 'tool 1.1 fork_eval_post' was only simulated in the source"), (
        message
    )
    assert "\n" not in message
    assert performed.outcome == "completed" and SENT == ["build passed"]
