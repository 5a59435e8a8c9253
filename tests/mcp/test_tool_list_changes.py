"""A server whose tool list changes mid-run: the run keeps the list discovery recorded when it
started (across continue-as-new too: discovery runs once), a tool that disappeared becomes an error
observation, and the histories replay deterministically."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from bench.histories import run_chain
from common.converter import build_data_converter
from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.mcp.servers import HttpMcpServer, calls_in
from tests.mcp.support import result_text, script_calls, start_agent, tool_results, with_servers
from tests.workflow.support import pending_approval
from worker.app import build_worker
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, ApprovalDecision

pytestmark = pytest.mark.timeout(120)


def scheduled(history: WorkflowHistory, activity_type: str) -> int:
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    )


async def fresh(topic: str) -> str:
    """A tool that appeared after the run started."""
    return topic


async def test_a_running_run_keeps_its_tool_list_and_replays(
    dev_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    script_calls(
        anthropic_server,
        ("svc__delete_record", {"record_id": "r-1"}),
        ("svc__lookup", {"city": "Oslo"}),
        answer="Deleted; the weather is unknown.",
    )
    params = AgentInput(
        goal="Delete r-1, then check the weather",
        tools=["svc__lookup", "svc__delete_record"],
        approvers=["alice"],
        continue_as_new_after_iterations=1,  # the list must survive continue-as-new too
    )
    with HttpMcpServer(log) as server:
        settings = with_servers(
            anthropic_settings, tmp_path, {"svc": {"url": server.url, "trustAnnotations": True}}
        )
        async with build_worker(dev_client, settings):
            handle = await start_agent(dev_client, settings.temporal_task_queue, params)
            pending = (await pending_approval(handle)).pending_approval
            assert pending is not None
            # While the run waits, the server drops `lookup` and gains `fresh`.
            server.app.remove_tool("lookup")
            server.app.add_tool(fresh)
            await handle.execute_update(
                AgentWorkflow.approve,
                ApprovalDecision(approver="alice", approved=True, action_hash=pending.action_hash),
            )
            result = await handle.result()
            assert handle.first_execution_run_id is not None
            histories = await run_chain(dev_client, handle.id, handle.first_execution_run_id)

    assert result.outcome == "completed" and result.runs == 3
    offered = [[tool["name"] for tool in request.body["tools"]] for request in anthropic_server.requests]
    assert offered == [["svc__lookup", "svc__delete_record"]] * 3
    deleted, looked_up = tool_results(anthropic_server)
    assert "record r-1 deleted" in result_text(deleted)
    assert looked_up["is_error"] is True and "lookup" in result_text(looked_up)
    assert len(calls_in(log, "delete_record")) == 1 and calls_in(log, "lookup") == []
    assert [scheduled(h, "mcp.list_tools") for h in histories] == [1, 0, 0]

    replayer = Replayer(workflows=[AgentWorkflow], data_converter=build_data_converter(settings))
    for history in histories:
        await replayer.replay_workflow(history)  # raises on nondeterminism
