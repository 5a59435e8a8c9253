"""AgentWorkflow on the time-skipping server: the ReAct loop's limits (iterations, budget, top-up),
tool-call errors as observations, input errors, and continue-as-new carrying the run's state."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.llm.models import TextBlock, ToolResultBlock, ToolUseBlock
from common.run_chain import read_chain
from common.search_attributes import COST_USD, PHASE
from common.settings import Settings
from tests.history_events import continued_input, scheduled_activities
from tests.workflow.doubles import Recorder, ScriptedModel, offline_llm
from tests.workflow.support import pending_approval, worker_with
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, AgentResult, ApprovalDecision, WorkflowStatus


async def run_agent(
    client: Client, settings: Settings, task_queue: str, params: AgentInput, activities: list
) -> tuple[str, AgentResult]:
    async with worker_with(client, settings, activities):
        handle = await client.start_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
        )
        return handle.id, await handle.result()


def llm_costs(result: AgentResult) -> list[float]:
    return [s.cost_usd for s in result.steps if s.kind == "llm"]


async def test_offline_agent_answers_with_a_tool(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    params = AgentInput(goal="What is 17 * 23?", tools=["calculator"])
    workflow_id, result = await run_agent(
        ts_client, settings, task_queue, params, [offline_llm().complete, *recorder.activities()]
    )
    assert result.outcome == "completed" and result.iterations == 2
    assert recorder.calculations == ["17 * 23"]
    assert "391" in result.answer  # the observation reached the model and its answer
    assert result.sources == ["calculator(expression='17 * 23')"]
    assert [s.kind for s in result.steps] == ["llm", "tool", "llm"]
    handle = ts_client.get_workflow_handle(workflow_id)
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(PHASE) == "completed"
    assert attributes.get(COST_USD) == pytest.approx(result.cost_usd, abs=1e-6)
    # An iteration's model call and a read-only tool call carry no Web UI summary (one more payload
    # per call for the SDK to visit; docs/benchmarks.md): the activity's type names them.
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and not e.user_metadata.HasField("summary")
    ]
    assert scheduled == ["llm.complete", "tool.calculator", "llm.complete"]


async def test_iteration_cap_ends_the_run(ts_client: Client, settings: Settings, task_queue: str) -> None:
    recorder = Recorder()
    params = AgentInput(goal="count forever [loop]", tools=["calculator"], max_iterations=3)
    _, result = await run_agent(
        ts_client, settings, task_queue, params, [offline_llm().complete, *recorder.activities()]
    )
    assert result.outcome == "max_iterations"
    assert result.iterations == 3 and len(llm_costs(result)) == 3
    # The third turn's calls are not run: nobody would read their observations.
    assert len(recorder.calculations) == 2
    assert "max_iterations" in result.answer


async def test_budget_ends_the_run_as_soon_as_it_is_spent(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    budget = 0.0006
    params = AgentInput(
        goal="count forever [loop]", tools=["calculator"], max_iterations=50, budget_usd=budget
    )
    _, result = await run_agent(
        ts_client, settings, task_queue, params, [offline_llm().complete, *recorder.activities()]
    )
    costs = llm_costs(result)
    assert result.outcome == "budget_exhausted"
    assert 1 < result.iterations < 50
    assert sum(costs[:-1]) < budget <= sum(costs) == pytest.approx(result.cost_usd)


async def test_budget_top_up_approval_lets_the_run_continue(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    params = AgentInput(
        goal="count forever [loop]",
        tools=["calculator"],
        max_iterations=6,
        budget_usd=0.0003,
        approvers=["alice"],
        pause_on_budget=True,
    )
    async with worker_with(ts_client, settings, [offline_llm().complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
        )
        status = await pending_approval(handle)
        assert status.pending_approval is not None and "Raise the budget" in status.pending_approval.action
        assert status.cost_usd >= 0.0003 and status.iteration < 6
        await handle.execute_update(
            AgentWorkflow.approve, ApprovalDecision(approver="alice", approved=True, budget_usd=1.0)
        )
        result = await handle.result()
        final = await handle.query(AgentWorkflow.status)
    assert result.outcome == "max_iterations" and result.iterations == 6
    assert [d.budget_usd for d in result.decisions] == [1.0]
    assert final.budget_usd == 1.0 and final.outcome == "max_iterations"


async def test_unknown_tool_and_invalid_arguments_become_error_observations(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    model = ScriptedModel(
        [
            [
                ToolUseBlock(id="a", name="launch_rockets", input={}),
                ToolUseBlock(id="b", name="calculator", input={"expr": "1 + 1"}),
                ToolUseBlock(id="c", name="calculator", input={"expression": "2 * 21"}),
            ],
            [TextBlock(text="42")],
        ]
    )
    params = AgentInput(goal="compute", tools=["calculator", "search_docs"])
    _, result = await run_agent(
        ts_client, settings, task_queue, params, [model.complete, *recorder.activities()]
    )

    assert result.outcome == "completed" and result.answer == "42"
    assert recorder.calculations == ["2 * 21"]  # only the valid call reached an activity
    observations = model.requests[1].messages[-1].content
    assert all(isinstance(o, ToolResultBlock) for o in observations)
    unknown, invalid, valid = observations
    assert isinstance(unknown, ToolResultBlock) and isinstance(invalid, ToolResultBlock)
    assert isinstance(valid, ToolResultBlock)
    assert [o.tool_use_id for o in (unknown, invalid, valid)] == ["a", "b", "c"]
    assert unknown.is_error and "unknown tool 'launch_rockets'" in unknown.content
    assert "calculator" in unknown.content and "search_docs" in unknown.content
    assert invalid.is_error and "invalid arguments for calculator" in invalid.content
    assert "expression: Field required" in invalid.content
    assert not valid.is_error and valid.content == "42"
    assert [s.ok for s in result.steps if s.kind == "tool"] == [False, False, True]
    # The model saw only the tools this run allows.
    assert sorted(t.name for t in model.requests[0].tools) == ["calculator", "search_docs"]


async def test_side_effect_tools_are_offered_only_with_approvers(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    model = ScriptedModel([[TextBlock(text="nothing to do")]])
    recorder = Recorder()
    async with worker_with(ts_client, settings, [model.complete, *recorder.activities()]):
        for approvers in ([], ["alice"]):
            await ts_client.execute_workflow(
                AgentWorkflow.run,
                AgentInput(goal="hello", approvers=approvers),
                id=f"agent-{uuid.uuid4().hex}",
                task_queue=task_queue,
            )
    without, with_approvers = ({t.name for t in r.tools} for r in model.requests)
    assert "send_webhook" not in without and "calculator" in without
    assert {"send_webhook", "send_email"} <= with_approvers


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"goal": "x", "tools": ["calculator", "rm_rf"]}, "unknown tools ['rm_rf']"),
        ({"goal": "x", "tools": ["send_email"]}, "need approval"),
    ],
)
async def test_bad_tool_lists_fail_fast_with_invalid_input(
    ts_client: Client, settings: Settings, task_queue: str, params: dict, message: str
) -> None:
    async with worker_with(ts_client, settings, [offline_llm().complete]):
        with pytest.raises(WorkflowFailureError) as failure:
            await ts_client.execute_workflow(
                "AgentWorkflow", params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
            )
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.non_retryable
    assert message in cause.message


async def test_input_that_does_not_validate_fails_the_run_not_the_task(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    async with worker_with(ts_client, settings, [offline_llm().complete]):
        handle = await ts_client.start_workflow(
            "AgentWorkflow",
            {"goal": "", "max_iterations": 0},
            id=f"agent-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failure:
            # A workflow-task retry loop would never end; the run must fail on its first task.
            await asyncio.wait_for(handle.result(), timeout=30)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ValidationError"
    assert "goal" in cause.message and "max_iterations" in cause.message


async def test_continue_as_new_carries_the_state_and_status(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    params = AgentInput(
        goal="count forever [loop]",
        tools=["calculator"],
        max_iterations=5,
        continue_as_new_after_iterations=2,
    )
    async with worker_with(ts_client, settings, [offline_llm().complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            AgentWorkflow.run,
            params,
            id=f"agent-{uuid.uuid4().hex}",
            task_queue=task_queue,
            memo={"input": {"goal": params.goal}},
        )
        first_run_id = handle.first_execution_run_id
        result = await handle.result()
        status: WorkflowStatus = await ts_client.get_workflow_handle(handle.id).query(AgentWorkflow.status)

    assert result.outcome == "max_iterations" and result.iterations == 5
    assert result.runs == 3  # iterations 1-2, 3-4, 5
    assert [s.step for s in result.steps if s.kind == "llm"] == [f"llm step {n}" for n in range(1, 6)]
    # The conversation went along: the offline model numbers its calls by the turns it has seen.
    assert recorder.calculations == ["0 + 1", "1 + 1", "2 + 1", "3 + 1"]
    assert result.cost_usd == pytest.approx(sum(s.cost_usd for s in result.steps))
    # `status` on the workflow id answers from the latest run with everything carried.
    assert status.runs == 3 and status.iteration == 5
    assert status.completed_steps == result.steps and status.cost_usd == pytest.approx(result.cost_usd)
    latest = await ts_client.get_workflow_handle(handle.id).describe()
    assert latest.run_id != first_run_id
    assert await latest.memo() == {"input": {"goal": params.goal}}  # the inbox reads the goal here
    assert latest.typed_search_attributes.get(PHASE) == "completed"

    first_run = ts_client.get_workflow_handle(handle.id, run_id=first_run_id)
    events = [e.event_type async for e in first_run.fetch_history_events()]
    assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


async def test_continue_as_new_hands_the_transcript_over_through_the_store(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    """The transcript goes to the next run through the payload store, not inline in the
    continue-as-new event: a long agent's carried input stays small however long its messages (a
    2 MB payload would fail the run at its continue-as-new), and the stream hands on its newest items."""
    long_text = "an observation worth keeping " * 700  # about 20 KB a reply
    call = ToolUseBlock(id="c", name="calculator", input={"expression": "1 + 1"})
    model = ScriptedModel([[TextBlock(text=long_text), call]])
    params = AgentInput(
        goal="think at length", tools=["calculator"], max_iterations=6, continue_as_new_after_iterations=2
    )
    recorder = Recorder()
    async with worker_with(ts_client, settings, [model.complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
        )
        result = await handle.result()
    assert result.outcome == "max_iterations" and result.runs == 3
    # Nothing of the conversation was lost: the last request holds every message so far.
    assert len(model.requests[-1].messages) == 1 + 2 * 5
    assert sum(long_text in str(m.content) for m in model.requests[-1].messages) == 5
    chain = await read_chain(ts_client, handle.id, handle.first_execution_run_id or "")
    carried_inputs = [continued_input(history).ByteSize() for history in chain.histories[:-1]]
    assert len(carried_inputs) == 2
    assert carried_inputs and max(carried_inputs) < 16_000, carried_inputs


async def continue_as_new_twice(client: Client, settings: Settings, task_queue: str) -> tuple:
    """An agent of five steps continuing-as-new every two: its result, its latest `status`, and what
    each continue-as-new carried (the `carried` JSON) with the activities each run scheduled."""
    params = AgentInput(
        goal="count forever [loop]",
        tools=["calculator"],
        max_iterations=5,
        continue_as_new_after_iterations=2,
    )
    async with worker_with(client, settings, [offline_llm().complete, *Recorder().activities()]):
        handle = await client.start_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
        )
        result = await handle.result()
        status: WorkflowStatus = await client.get_workflow_handle(handle.id).query(AgentWorkflow.status)
    chain = await read_chain(client, handle.id, handle.first_execution_run_id or "")
    carried = [json.loads(continued_input(history).data)["carried"] for history in chain.histories[:-1]]
    return result, status, carried, [scheduled_activities(history) for history in chain.histories]


async def test_continue_as_new_hands_the_step_records_over_through_the_store(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    """Not inline in the continue-as-new event, where a 1,000-step agent's made most of a 252 KB input
    that its next run's first task read back: their digest, under the seal, and every step in the
    next run's `status` and in the result, numbered on across the runs."""
    result, status, carried, scheduled = await continue_as_new_twice(ts_client, settings, task_queue)
    assert result.outcome == "max_iterations" and result.runs == 3
    assert [state["steps"] for state in carried] == [[], []]
    digests = [state["steps_stash"] for state in carried]
    assert all(re.fullmatch("[0-9a-f]{64}", digest) for digest in digests) and len(set(digests)) == 2
    assert [s.step for s in result.steps if s.kind == "llm"] == [f"llm step {n}" for n in range(1, 6)]
    assert [s.step for s in result.steps if s.kind == "tool"] == [
        f"tool {n}.1 calculator" for n in range(1, 5)
    ]
    assert status.completed_steps == result.steps
    # Each continued run reads its steps back once, after the seal's check.
    for run in scheduled[1:]:
        assert run[:3] == ["run_state.verify", "run_state.unstash", "run_state.unstash"]


async def test_without_a_payload_store_the_step_records_stay_inline(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    """`PAYLOAD_STORE=off`: the conversation's stash found no store, so the steps are not stashed at all."""
    off = settings.model_copy(update={"payload_store": "off"})
    result, status, carried, scheduled = await continue_as_new_twice(ts_client, off, task_queue)
    assert result.outcome == "max_iterations" and result.runs == 3
    assert [len(state["steps"]) for state in carried] == [4, 8]  # an LLM step and a tool each turn
    assert all("steps_stash" not in state for state in carried)
    assert status.completed_steps == result.steps and len(result.steps) == 9
    assert all(run.count("run_state.stash") <= 1 and "run_state.unstash" not in run for run in scheduled)
