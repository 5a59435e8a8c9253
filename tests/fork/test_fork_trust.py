"""What a fork must never do with its source's recorded decisions: an approval the source recorded
before the fork point is reused only for the very action it approved, performed as the source
performed it. A fork whose patched input changes the action (another delivery target) must not
carry the approval over to it, nor may a fork perform an approved side effect a second time."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.kit import tool
from common.settings import Settings
from tests.fork.plan_probe import PlanProbeWorkflow
from workflows.agent import AgentWorkflow
from workflows.kit import ForkFrom, KitInput
from workflows.kit.pytest_plugin import KitWorkerFactory, decide, wait_for_approval
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput, ApprovalDecision, ResearchInput
from workflows.research import ResearchWorkflow


def delivered_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


async def test_an_approval_of_one_target_is_not_reused_for_a_patched_target(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str, kit_settings: Settings
) -> None:
    model = ScriptedModel([{"match": {"step_kind": "plan"}, "reply": {"text": "1. reefs\n2. kelp"}}])
    params = ResearchInput(
        topic="ocean forests", max_subtopics=2, deliver_to="file:approved", approvers=["ana"]
    )
    root = kit_settings.delivery_file_root
    async with kit_worker(model=model):
        source = await kit_env.client.start_workflow(
            ResearchWorkflow.run, params, id=f"fork-trust-{uuid.uuid4().hex[:8]}", task_queue=kit_task_queue
        )
        await decide(source, "ana")  # ana approves delivering this report to file:approved
        recorded = await source.result()
        assert recorded.outcome == "completed" and len(delivered_files(root / "approved")) == 1
        steps = [s.step for s in recorded.steps]
        assert steps[-2:] == ["approval 1", "deliver"]
        assert source.result_run_id is not None

        # Fork at the delivery, the approval before it reused, to a target nobody approved.
        fork = ForkFrom(workflow_id=source.id, run_id=source.result_run_id, step=len(steps))
        forked = await kit_env.client.start_workflow(
            ResearchWorkflow.run,
            params.model_copy(update={"fork_from": fork, "deliver_to": "file:never-approved"}),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await forked.result()

    assert delivered_files(root / "never-approved") == []  # nothing delivered without an approval
    message = str(getattr(failure.value.cause, "message", failure.value.cause))
    assert message.startswith(
        f"fork: step {len(steps) - 1} 'approval 1' of the source approved another action"
    )
    assert "\n" not in message


SENT: list[str] = []


class Message(BaseModel):
    to: str
    text: str


@tool(description="Sends a message (counts its calls).", side_effect=True, targets=("to",))
async def fork_trust_send(params: Message) -> str:
    SENT.append(params.to)
    return f"sent to {params.to}"


async def test_an_approval_is_not_reused_for_a_side_effect_the_fork_performs_again(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    """ana approved one message. A fork from the send itself (the approval before it, the send
    live) would send it a second time under her one approval: it must ask again, or refuse."""
    SENT.clear()
    model = ScriptedModel(
        [
            {
                "match": {"step_kind": "agent", "turn": 0},
                "reply": {"tool_calls": [{"name": "fork_trust_send", "input": {"to": "bo", "text": "hi"}}]},
            },
            {"match": {"step_kind": "agent", "turn": 1}, "reply": {"text": "told Bo"}},
        ]
    )
    params = AgentInput(goal="Tell Bo", tools=["fork_trust_send"], approvers=["ana"])
    async with kit_worker(tools=[fork_trust_send], model=model):
        source = await kit_env.client.start_workflow(
            AgentWorkflow.run, params, id=f"fork-trust-{uuid.uuid4().hex[:8]}", task_queue=kit_task_queue
        )
        await decide(source, "ana")
        recorded = await source.result()
        steps = [s.step for s in recorded.steps]
        assert steps == ["llm step 1", "approval 1", "tool 1.1 fork_trust_send", "llm step 2"], steps
        assert SENT == ["bo"] and source.result_run_id is not None

        fork = ForkFrom(workflow_id=source.id, run_id=source.result_run_id, step=3)
        forked = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            params.model_copy(update={"fork_from": fork}),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await forked.result()

    assert SENT == ["bo"]  # sent once, as ana approved
    message = str(getattr(failure.value.cause, "message", failure.value.cause))
    assert message.startswith("fork: step 2 'approval 1' of the source approved a side effect"), message
    assert "\n" not in message


async def test_an_approval_for_the_rest_of_the_source_run_does_not_cover_the_forks_live_calls(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    """ana approved messages to bo "for the rest of the run": that run. A fork is another run: its
    live calls ask again instead of sending under her decision."""
    SENT.clear()
    send = {"name": "fork_trust_send", "input": {"to": "bo", "text": "hi"}}
    model = ScriptedModel(
        [
            {"match": {"step_kind": "agent", "turn": 0}, "reply": {"tool_calls": [send]}},
            {"match": {"step_kind": "agent", "turn": 1}, "reply": {"tool_calls": [send]}},
            {"match": {"step_kind": "agent", "turn": 2}, "reply": {"text": "told Bo twice"}},
        ]
    )
    params = AgentInput(goal="Tell Bo twice", tools=["fork_trust_send"], approvers=["ana"])
    async with kit_worker(tools=[fork_trust_send], model=model):
        source = await kit_env.client.start_workflow(
            AgentWorkflow.run, params, id=f"fork-trust-{uuid.uuid4().hex[:8]}", task_queue=kit_task_queue
        )
        pending = await wait_for_approval(source)
        await source.execute_update(
            "approve",
            ApprovalDecision(approver="ana", approved=True, action_hash=pending.action_hash, for_run=True),
        )
        recorded = await source.result()
        steps = [s.step for s in recorded.steps]
        assert steps[:4] == ["llm step 1", "approval 1", "tool 1.1 fork_trust_send", "llm step 2"], steps
        assert SENT == ["bo", "bo"] and source.result_run_id is not None  # the second: for the run

        fork = ForkFrom(workflow_id=source.id, run_id=source.result_run_id, step=4)
        forked = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            params.model_copy(update={"fork_from": fork}),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        asked = await wait_for_approval(forked)  # the fork's live call asks ana again
        await forked.terminate("the test saw what it needed")

    assert asked.proposed is not None and asked.proposed.name == "fork_trust_send"
    assert SENT == ["bo", "bo"]  # nothing sent under the source run's decision


async def test_a_reused_approval_of_a_plan_lets_a_later_read_only_call_run_live(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    """Only the side effect an approval approved is held to it: a plan approved before the fork
    point, then a read-only lookup from it on, runs."""
    params = KitInput(approvers=["ana"])
    async with kit_worker(workflows=[PlanProbeWorkflow], model=ScriptedModel([])):
        source = await kit_env.client.start_workflow(
            PlanProbeWorkflow.run, params, id=f"plan-{uuid.uuid4().hex[:8]}", task_queue=kit_task_queue
        )
        await decide(source, "ana")
        assert await source.result() == "2" and source.result_run_id is not None
        fork = ForkFrom(workflow_id=source.id, run_id=source.result_run_id, step=2)
        result = await kit_env.client.execute_workflow(
            PlanProbeWorkflow.run,
            params.model_copy(update={"fork_from": fork}),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
    assert result == "2"
