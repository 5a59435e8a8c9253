"""Eval mode (`KitInput.eval_mode`) through the testing kit: a side-effect tool the model asks for is
never called and no approval is asked for it (its activity counts calls; the model reads a simulated
observation), a read-only tool runs for real, and a delivery is neither approved nor made. The same
agent input without eval mode waits for an approval of that tool: the tool really is a side effect."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.kit import tool
from common.contracts.llm import ToolResultBlock
from common.settings import Settings
from workflows.agent import AgentWorkflow
from workflows.kit import ForkFrom
from workflows.kit.eval_mode import SIMULATED
from workflows.kit.pytest_plugin import KitWorkerFactory, decide, wait_for_approval
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput, AgentResult, ResearchInput, ResearchResult, WorkflowStatus
from workflows.research import ResearchWorkflow

SENT: list[str] = []
LOOKED_UP: list[str] = []


class ProbeSend(BaseModel):
    to: str
    text: str


class ProbeLookup(BaseModel):
    email: str


@tool(description="Sends a message (counts its calls).", side_effect=True, targets=("to",))
async def eval_probe_send(params: ProbeSend) -> str:
    SENT.append(params.to)
    return f"sent to {params.to}"


@tool(description="Looks a customer up (counts its calls).")
async def eval_probe_lookup(params: ProbeLookup) -> str:
    LOOKED_UP.append(params.email)
    return f"{params.email} is on the pro plan"


def delivered_files(root: Path) -> list[Path]:
    return list(root.rglob("*")) if root.exists() else []


def agent_model() -> ScriptedModel:
    return ScriptedModel(
        [
            {
                "match": {"step_kind": "agent", "turn": 0},
                "reply": {
                    "tool_calls": [
                        {"name": "eval_probe_lookup", "input": {"email": "ana@example.com"}},
                        {"name": "eval_probe_send", "input": {"to": "ana@example.com", "text": "hi"}},
                    ]
                },
            },
            {"match": {"step_kind": "agent", "turn": 1}, "reply": {"text": "told Ana"}},
        ]
    )


def agent_input(*, eval_mode: bool) -> AgentInput:
    return AgentInput(
        goal="Tell Ana her plan",
        tools=["eval_probe_lookup", "eval_probe_send"],
        approvers=["ana"],
        eval_mode=eval_mode,
    )


async def test_a_side_effect_tool_in_eval_mode_is_never_called_nor_approved(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    SENT.clear()
    LOOKED_UP.clear()
    model = agent_model()
    async with kit_worker(tools=[eval_probe_send, eval_probe_lookup], model=model) as worker:
        handle = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            agent_input(eval_mode=True),
            id=f"eval-mode-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        result: AgentResult = await handle.result()
        status = await handle.query("status", result_type=WorkflowStatus)

    assert result.outcome == "completed" and result.answer == "told Ana"
    assert SENT == [] and LOOKED_UP == ["ana@example.com"]
    assert status.decisions == [] and result.decisions == []  # nobody was asked
    sends = [s for s in result.steps if s.step.endswith("eval_probe_send")]
    assert len(sends) == 1 and sends[0].ok and sends[0].detail.startswith(SIMULATED), sends
    lookups = [s for s in result.steps if s.step.endswith("eval_probe_lookup")]
    assert len(lookups) == 1 and not lookups[0].detail.startswith(SIMULATED)
    # The model read the simulated observation, as it would have read the tool's result.
    observations = [
        b for m in model.requests[1].messages for b in m.content if isinstance(b, ToolResultBlock)
    ]
    [simulated] = [o for o in observations if o.content.startswith(SIMULATED)]
    assert not simulated.is_error
    assert 'would call eval_probe_send({"text": "hi", "to": "ana@example.com"})' in simulated.content


async def test_without_eval_mode_the_same_call_waits_for_an_approval(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    SENT.clear()
    async with kit_worker(tools=[eval_probe_send, eval_probe_lookup], model=agent_model()) as worker:
        handle = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            agent_input(eval_mode=False),
            id=f"eval-mode-off-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        pending = await wait_for_approval(handle)
        await handle.terminate("the test saw what it needed")
    assert pending.proposed is not None and pending.proposed.name == "eval_probe_send"
    assert SENT == []


async def test_a_delivery_in_eval_mode_is_neither_approved_nor_made(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_settings: Settings
) -> None:
    async with kit_worker(model=ScriptedModel([])) as worker:
        result: ResearchResult = await kit_env.client.execute_workflow(
            ResearchWorkflow.run,
            ResearchInput(
                topic="tide pools",
                max_subtopics=1,
                approvers=["ana"],
                deliver_to="file:reports",
                eval_mode=True,
            ),
            id=f"eval-research-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
    assert delivered_files(Path(kit_settings.delivery_file_root)) == []
    [delivery] = [s for s in result.steps if s.kind == "delivery"]
    assert delivery.detail == f"{SIMULATED} would deliver by file to file:reports"
    assert result.approval is None and result.delivery is None


async def test_an_eval_mode_fork_past_a_performed_side_effect_fails_in_one_line(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    """Simulating a side effect its source performed before the fork point would be another path:
    the fork says so at that step instead of waiting for the recorded step it did not take."""
    SENT.clear()
    async with kit_worker(tools=[eval_probe_send, eval_probe_lookup], model=agent_model()) as worker:
        source = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            agent_input(eval_mode=False),
            id=f"eval-source-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        await decide(source, "ana")
        recorded: AgentResult = await source.result()
        assert SENT == ["ana@example.com"]
        last_llm = max(n for n, step in enumerate(recorded.steps, start=1) if step.kind == "llm")
        fork = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            agent_input(eval_mode=True).model_copy(
                update={
                    "fork_from": ForkFrom(
                        workflow_id=source.id, run_id=source.result_run_id or "", step=last_llm
                    )
                }
            ),
            id=f"eval-fork-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await fork.result()
    message = str(failed.value.cause)
    assert "eval_probe_send" in message and "would only simulate it (eval mode)" in message, message
    assert SENT == ["ana@example.com"]  # never sent again
