"""The workflows are deterministic: histories of runs that used every path (approval by Update and
Signal, refused updates, tools, continue-as-new, child agents) replay without a nondeterminism error."""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.llm.models import TextBlock, ToolUseBlock
from common.settings import Settings
from tests.workflow.doubles import Recorder, ScriptedModel, offline_llm
from tests.workflow.support import pending_approval, worker_with
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, ApprovalDecision, ResearchInput
from workflows.registry import WORKFLOWS
from workflows.research import ResearchWorkflow


async def test_histories_replay(ts_client: Client, settings: Settings, task_queue: str) -> None:
    recorder = Recorder()
    webhook = ToolUseBlock(
        id="w", name="send_webhook", input={"url": "https://hooks.example/a", "payload": {}}
    )
    model = ScriptedModel(
        [
            [webhook, ToolUseBlock(id="c", name="calculator", input={"expression": "6 * 7"})],
            [TextBlock(text="ok")],
        ]
    )
    histories: list[WorkflowHistory] = []
    async with worker_with(ts_client, settings, [model.complete, *recorder.activities()]):
        agent = await ts_client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="notify", approvers=["alice"], continue_as_new_after_iterations=1),
            id=f"agent-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        await pending_approval(agent)
        await agent.signal("approve", ApprovalDecision(approver="mallory", approved=True))
        await agent.execute_update(AgentWorkflow.approve, ApprovalDecision(approver="alice", approved=True))
        await agent.result()
    async with worker_with(ts_client, settings, [offline_llm().complete, *recorder.activities()]):
        research = await ts_client.start_workflow(
            ResearchWorkflow.run,
            ResearchInput(topic="tide pools", max_subtopics=2, depth="deep", approvers=["bob"]),
            id=f"research-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        await pending_approval(research)
        await research.signal("approve", ApprovalDecision(approver="bob", approved=True))
        await research.result()

    first_agent_run = ts_client.get_workflow_handle(agent.id, run_id=agent.first_execution_run_id)
    latest_agent_run = ts_client.get_workflow_handle(agent.id)
    for handle in (first_agent_run, latest_agent_run, research):
        histories.append(await handle.fetch_history())
    for n in (1, 2):
        histories.append(await ts_client.get_workflow_handle(f"{research.id}/research-{n}").fetch_history())

    assert histories[0].run_id != histories[1].run_id  # both runs of the agent
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    for history in histories:
        await replayer.replay_workflow(history)  # raises on nondeterminism
    assert len(recorder.side_effects) == 1 and recorder.calculations == ["6 * 7"]
