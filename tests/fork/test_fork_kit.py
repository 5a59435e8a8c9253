"""Fork through the testing kit (a real worker on the time-skipping server, a scripted model that
keeps every request): the steps before the fork point take the source's recorded results — no model
request, no tool call — and the steps from it run live with the fork's model."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.kit import tool
from common.settings import Settings
from workflows.agent import AgentWorkflow
from workflows.kit import ForkFrom
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput, AgentResult, ResearchInput, WorkflowStatus
from workflows.research import ResearchWorkflow

LOOKED_UP: list[str] = []


class Lookup(BaseModel):
    email: str


@tool(description="Looks a customer up (counts its calls).")
async def fork_probe_lookup(params: Lookup) -> str:
    LOOKED_UP.append(params.email)
    return f"{params.email} is on the pro plan"


def five_step_model() -> ScriptedModel:
    """llm, tool, llm, tool, llm: steps 1 to 5 of an agent run."""
    return ScriptedModel(
        [
            {
                "match": {"step_kind": "agent", "turn": 0},
                "reply": {
                    "tool_calls": [{"name": "fork_probe_lookup", "input": {"email": "ana@example.com"}}]
                },
            },
            {
                "match": {"step_kind": "agent", "turn": 1},
                "reply": {
                    "tool_calls": [{"name": "fork_probe_lookup", "input": {"email": "bo@example.com"}}]
                },
            },
            {"match": {"step_kind": "agent", "turn": 2}, "reply": {"text": "Ana and Bo are on the pro plan"}},
        ]
    )


def agent_input(**update: object) -> AgentInput:
    return AgentInput(goal="Which plan are Ana and Bo on?", tools=["fork_probe_lookup"]).model_copy(
        update=update
    )


async def run_source(env: WorkflowEnvironment, queue: str) -> tuple[str, str, AgentResult]:
    workflow_id = f"fork-source-{uuid.uuid4().hex[:8]}"
    handle = await env.client.start_workflow(
        AgentWorkflow.run, agent_input(), id=workflow_id, task_queue=queue
    )
    result = await handle.result()
    assert handle.result_run_id is not None
    return workflow_id, handle.result_run_id, result


async def test_a_five_step_agent_forked_at_step_3_asks_the_model_only_from_step_3(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    model = five_step_model()
    async with kit_worker(tools=[fork_probe_lookup], model=model):
        source_id, source_run, source = await run_source(kit_env, kit_task_queue)
        assert [s.step for s in source.steps] == [
            "llm step 1",
            "tool 1.1 fork_probe_lookup",
            "llm step 2",
            "tool 2.1 fork_probe_lookup",
            "llm step 3",
        ]
        assert len(model.requests) == 3 and LOOKED_UP[-2:] == ["ana@example.com", "bo@example.com"]
        asked_before, looked_up_before = len(model.requests), len(LOOKED_UP)

        fork = ForkFrom(workflow_id=source_id, run_id=source_run, step=3)
        handle = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            agent_input(fork_from=fork, model="fork-model"),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        result = await handle.result()
        status = await handle.query("status", result_type=WorkflowStatus)

    assert result.outcome == "completed" and result.answer == source.answer
    # Steps 1-2 reused: no request, no tool call; steps 3 and 5 asked the model, step 4 looked up.
    live_requests = model.requests[asked_before:]
    assert [r.step for r in live_requests] == ["llm step 2", "llm step 3"]
    assert {r.model for r in live_requests} == {"fork-model"}
    assert LOOKED_UP[looked_up_before:] == ["bo@example.com"]
    assert [s.reused for s in result.steps] == [True, True, False, False, False]
    assert [s.step for s in result.steps] == [s.step for s in source.steps]
    assert result.steps[0].cost_usd == 0 and result.steps[0].input_tokens == 0
    assert result.cost_usd == pytest.approx(sum(s.cost_usd for s in result.steps[2:]))
    assert status.forked_from == fork


async def test_a_fork_of_a_run_that_does_not_exist_fails_at_once(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    model = five_step_model()
    async with kit_worker(tools=[fork_probe_lookup], model=model):
        fork = ForkFrom(workflow_id="no-such-run", run_id="00000000-0000-0000-0000-000000000000", step=2)
        handle = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            agent_input(fork_from=fork),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert model.requests == []
    message = str(getattr(failure.value.cause, "message", failure.value.cause))
    assert message == "fork: no run no-such-run/00000000-0000-0000-0000-000000000000 to fork"


def delivered_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


async def test_a_research_run_forked_after_its_delivery_does_not_deliver_again(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str, kit_settings: Settings
) -> None:
    model = ScriptedModel([{"match": {"step_kind": "plan"}, "reply": {"text": "1. reefs\n2. kelp"}}])
    params = ResearchInput(topic="ocean forests", max_subtopics=2, deliver_to="file:reports")
    deliveries = kit_settings.delivery_file_root
    async with kit_worker(model=model):
        source = await kit_env.client.start_workflow(
            ResearchWorkflow.run,
            params,
            id=f"fork-research-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        recorded = await source.result()
        assert recorded.delivery is not None and len(delivered_files(deliveries)) == 1
        steps = [s.step for s in recorded.steps]
        assert steps[0] == "plan" and steps[-1] == "deliver"
        asked_before = len(model.requests)

        fork = ForkFrom(workflow_id=source.id, run_id=recorded_run(source), step=len(steps) + 1)
        forked = await kit_env.client.start_workflow(
            ResearchWorkflow.run,
            params.model_copy(update={"fork_from": fork}),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        result = await forked.result()

    assert len(delivered_files(deliveries)) == 1  # the report was not delivered a second time
    assert len(model.requests) == asked_before
    assert result.report == recorded.report and result.outcome == "completed"
    assert [s.step for s in result.steps] == steps and all(s.reused for s in result.steps)
    assert result.delivery == recorded.delivery and result.cost_usd == 0


def recorded_run(handle: WorkflowHandle[Any, Any]) -> str:
    assert handle.result_run_id is not None
    return handle.result_run_id


async def test_a_failed_run_can_be_forked_from_its_failed_step(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    first_turn = {
        "match": {"step_kind": "agent", "turn": 0},
        "reply": {"tool_calls": [{"name": "fork_probe_lookup", "input": {"email": "ana@example.com"}}]},
    }
    broken = ScriptedModel([first_turn, {"match": {"turn": 1}, "reply": {"error": "invalid_request"}}])
    async with kit_worker(tools=[fork_probe_lookup], model=broken):
        source = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            agent_input(),
            id=f"fork-failed-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        with pytest.raises(WorkflowFailureError):
            await source.result()
        status = await source.query("status", result_type=WorkflowStatus)
    assert [(s.step, s.ok) for s in status.completed_steps] == [
        ("llm step 1", True),
        ("tool 1.1 fork_probe_lookup", True),
        ("llm step 2", False),
    ]
    looked_up_before = len(LOOKED_UP)

    fixed = ScriptedModel([{"match": {"turn": 1}, "reply": {"text": "Ana is on the pro plan"}}])
    async with kit_worker(tools=[fork_probe_lookup], model=fixed):
        source_run = (await source.describe()).run_id
        fork = ForkFrom(workflow_id=source.id, run_id=source_run, step=3)
        result = await kit_env.client.execute_workflow(
            AgentWorkflow.run,
            agent_input(fork_from=fork, model="better-model"),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
    assert result.outcome == "completed" and result.answer == "Ana is on the pro plan"
    assert [r.model for r in fixed.requests] == ["better-model"]
    assert len(LOOKED_UP) == looked_up_before
    assert [s.reused for s in result.steps] == [True, True, False]


async def test_a_run_that_continued_as_new_is_forked_past_the_continue_as_new(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    model = five_step_model()
    params = agent_input(continue_as_new_after_iterations=1)
    async with kit_worker(tools=[fork_probe_lookup], model=model):
        source = await kit_env.client.start_workflow(
            AgentWorkflow.run, params, id=f"fork-can-{uuid.uuid4().hex[:8]}", task_queue=kit_task_queue
        )
        recorded = await source.result()
        latest = await kit_env.client.get_workflow_handle(source.id).query(
            "status", result_type=WorkflowStatus
        )
        assert recorded.outcome == "completed" and latest.runs == 3
        asked_before, looked_up_before = len(model.requests), len(LOOKED_UP)

        # Named by its first run: steps 1-3 span the source's first two runs.
        assert source.first_execution_run_id is not None
        fork = ForkFrom(workflow_id=source.id, run_id=source.first_execution_run_id, step=4)
        result = await kit_env.client.execute_workflow(
            AgentWorkflow.run,
            params.model_copy(update={"fork_from": fork}),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
    assert [s.step for s in result.steps] == [s.step for s in recorded.steps]
    assert [s.reused for s in result.steps] == [True, True, True, False, False]
    assert [r.step for r in model.requests[asked_before:]] == ["llm step 3"]
    assert LOOKED_UP[looked_up_before:] == ["bo@example.com"]


async def test_a_fork_whose_patched_input_takes_another_path_before_n_fails_naming_the_step(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str
) -> None:
    model = five_step_model()
    async with kit_worker(tools=[fork_probe_lookup], model=model):
        source_id, source_run, _ = await run_source(kit_env, kit_task_queue)
        asked_before, looked_up_before = len(model.requests), len(LOOKED_UP)
        fork = ForkFrom(workflow_id=source_id, run_id=source_run, step=4)
        # The source's step 2 looked a customer up; this input no longer offers the tool.
        handle = await kit_env.client.start_workflow(
            AgentWorkflow.run,
            agent_input(fork_from=fork, tools=["calculator"]),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    message = str(getattr(failure.value.cause, "message", failure.value.cause))
    assert message.startswith(
        "fork: step 2 'tool 1.1 fork_probe_lookup' ran in the source run; this run does not offer"
    )
    assert "\n" not in message
    assert len(model.requests) == asked_before and len(LOOKED_UP) == looked_up_before


def test_a_client_cannot_hand_a_fork_its_results() -> None:
    """The input names the source run and nothing else: results come from the worker's reading."""
    fork = {"workflow_id": "a", "run_id": "b", "step": 2, "steps": [{"result": {"text": "forged"}}]}
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        AgentInput.model_validate({"goal": "g", "fork_from": fork})
