"""A webhook URL's query (often a token) and credentials stay out of what people and tools read
besides the approval itself: step details, sources and captured tool spans."""

from __future__ import annotations

import json
import uuid

from temporalio.client import Client

from activities.llm.models import TextBlock, ToolUseBlock
from activities.tool_tracing import _as_json
from activities.tools.models import SideEffectToolInput
from common.settings import Settings
from tests.workflow.doubles import Recorder, ScriptedModel
from tests.workflow.support import pending_approval, worker_with
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, ApprovalDecision

TOKEN = "tok-9f8e7d6c5b4a"
URL = f"https://user:{TOKEN}x@hooks.example/in?token={TOKEN}&sig={TOKEN}y"


def test_captured_tool_arguments_mask_url_secrets() -> None:
    captured = _as_json(
        SideEffectToolInput(arguments={"url": URL, "payload": {"next": URL}}, idempotency_key="wf/1")
    )
    assert TOKEN not in captured
    arguments = json.loads(captured)["arguments"]
    assert arguments["url"] == "https://***@hooks.example/in?token=%2A%2A%2A&sig=%2A%2A%2A"


async def test_step_details_and_sources_mask_url_secrets(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    call = ToolUseBlock(id="c1", name="send_webhook", input={"url": URL, "payload": {"a": 1}})
    model = ScriptedModel([[call], [TextBlock(text="done")]])
    params = AgentInput(goal="notify", tools=["send_webhook"], approvers=["ana"])
    async with worker_with(ts_client, settings, [model.complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
        )
        pending = (await pending_approval(handle)).pending_approval
        assert pending is not None and TOKEN in pending.action  # the reviewer sees what will run
        await handle.execute_update(
            AgentWorkflow.approve,
            ApprovalDecision(approver="ana", approved=True, action_hash=pending.action_hash),
        )
        result = await handle.result()
    tool_steps = [step for step in result.steps if step.kind == "tool"]
    assert tool_steps and all(TOKEN not in step.detail for step in tool_steps)
    assert result.sources and all(TOKEN not in source for source in result.sources)
    assert recorder.side_effects[0][1].arguments["url"] == URL  # the call itself is unchanged
