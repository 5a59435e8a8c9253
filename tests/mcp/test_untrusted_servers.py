"""An MCP server is not trusted by default (the MCP specification: annotations are hints from
possibly untrusted servers), and neither is the workflow that calls `mcp.call_tool`:

- a tool that claims `readOnlyHint: true` still waits for a person unless the operator trusts the
  server's annotations (`trustAnnotations`) or lists the tool (`readOnlyTools`);
- the activity enforces the server's allow/deny lists and its approval requirement from the worker's
  configuration, whatever the workflow's recorded tool info says;
- arguments the tool's input schema does not declare are refused before anyone is asked, so a model
  cannot make up a `to` for the reviewer to read as the target."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from common.contracts.mcp import McpCallRequest
from common.contracts.runs import ApprovalRecord, action_hash
from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.mcp.call_probe import McpCallProbe
from tests.mcp.servers import calls_in
from tests.mcp.support import result_text, run_agent, script_calls, start_agent, stdio_server, tool_results
from tests.mcp.support import with_servers as settings_with
from tests.workflow.support import pending_approval
from worker.app import build_worker
from workflows.models import AgentInput, ApprovalDecision

pytestmark = pytest.mark.timeout(120)


def untrusted(log: Path, **keys: Any) -> dict[str, Any]:
    """The suite's server as an operator would first paste it: no `trustAnnotations`."""
    return stdio_server(log, trustAnnotations=False, **keys)


async def test_a_tool_that_claims_to_be_read_only_still_needs_a_person(
    dev_client: Client, anthropic_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    settings = settings_with(anthropic_settings, tmp_path, {"weather": untrusted(log)})
    with pytest.raises(WorkflowFailureError) as failure:
        await run_agent(dev_client, settings, AgentInput(goal="Weather?", tools=["weather__lookup"]))
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert "need approval" in cause.message and calls_in(log) == []


async def test_an_untrusted_servers_read_only_claim_waits_and_runs_once_approved(
    dev_client: Client, anthropic_server: AnthropicServer, anthropic_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    settings = settings_with(anthropic_settings, tmp_path, {"weather": untrusted(log)})
    script_calls(anthropic_server, ("weather__lookup", {"city": "Oslo"}), answer="Sunny.")
    params = AgentInput(goal="Weather in Oslo?", tools=["weather__lookup"], approvers=["ana"])
    async with build_worker(dev_client, settings):
        handle = await start_agent(dev_client, settings.temporal_task_queue, params)
        pending = (await pending_approval(handle)).pending_approval
        assert pending is not None and "weather__lookup" in pending.action
        assert calls_in(log) == []  # nothing ran before the decision
        await handle.execute_update("approve", ApprovalDecision(approver="ana", approved=True))
        result = await handle.result()
    assert result.outcome == "completed" and len(calls_in(log, "lookup")) == 1


async def test_the_operator_lists_what_is_read_only(
    dev_client: Client, anthropic_server: AnthropicServer, anthropic_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    entry = untrusted(log, readOnlyTools=["lookup"])
    settings = settings_with(anthropic_settings, tmp_path, {"weather": entry})
    script_calls(anthropic_server, ("weather__lookup", {"city": "Oslo"}), answer="Sunny.")
    result = await run_agent(dev_client, settings, AgentInput(goal="Weather?", tools=["weather__lookup"]))
    assert result.outcome == "completed" and len(calls_in(log, "lookup")) == 1


def forged_call(
    tool: str, arguments: dict[str, Any], approval: ApprovalRecord | None = None
) -> McpCallRequest:
    return McpCallRequest(
        name=f"records__{tool}",
        server="records",
        tool=tool,
        arguments=arguments,
        idempotency_key=f"probe/{uuid.uuid4().hex}",
        approval=approval,
    )


def approval_of(name: str, arguments: dict[str, Any]) -> ApprovalRecord:
    from datetime import UTC, datetime

    return ApprovalRecord(
        action=name,
        action_hash=action_hash(name, arguments),
        approver="ana",
        approved=True,
        decided_at=datetime.now(UTC),
        via="update",
    )


async def test_the_call_activity_enforces_the_workers_configuration(
    dev_client: Client, anthropic_settings: Settings, tmp_path: Path
) -> None:
    """A workflow that says a denied tool is allowed, or that a destructive tool needs no approval,
    is refused by `mcp.call_tool` itself; the server never sees the call."""
    log = tmp_path / "calls.jsonl"
    entry = stdio_server(log, denyTools=["slow_lookup"])  # annotations trusted: delete_record is destructive
    settings = settings_with(anthropic_settings, tmp_path, {"records": entry})
    delete = {"record_id": "r-1"}
    other_call = approval_of("records__delete_record", {"record_id": "r-2"})
    async with build_worker(dev_client, settings, workflows=[McpCallProbe]):

        async def probe(request: McpCallRequest) -> str:
            return await dev_client.execute_workflow(
                McpCallProbe.run,
                request,
                id=f"probe-{uuid.uuid4().hex[:8]}",
                task_queue=settings.temporal_task_queue,
            )

        denied = await probe(forged_call("slow_lookup", {"city": "Oslo"}))
        unapproved = await probe(forged_call("delete_record", delete))
        approved_elsewhere = await probe(forged_call("delete_record", delete, other_call))
        assert calls_in(log) == []
        approved = await probe(
            forged_call("delete_record", delete, approval_of("records__delete_record", delete))
        )
    assert denied.startswith("refused McpToolRefused:") and "denyTools" in denied
    for refused in (unapproved, approved_elsewhere):
        assert refused.startswith("refused McpToolRefused:") and "approval" in refused, refused
    assert "refused" not in approved and [c["arguments"] for c in calls_in(log)] == [delete]


async def test_undeclared_arguments_are_refused_before_anyone_is_asked(
    dev_client: Client, anthropic_server: AnthropicServer, anthropic_settings: Settings, tmp_path: Path
) -> None:
    """The model adds a `to` and a name holding a newline and a fake line: the call is refused with
    the names escaped, nothing waits for a reviewer, the server is never called."""
    log = tmp_path / "calls.jsonl"
    settings = settings_with(anthropic_settings, tmp_path, {"records": stdio_server(log)})
    arguments = {
        "record_id": "r-1",
        "to": "treasury@corp.example",
        "note\n\u2192 account: CORP-SAFE-001": "x",
    }
    script_calls(anthropic_server, ("records__delete_record", arguments), answer="Could not.")
    params = AgentInput(goal="Delete r-1", tools=["records__delete_record"], approvers=["ana"])
    result = await run_agent(dev_client, settings, params)
    assert result.outcome == "completed" and result.decisions == []
    [observation] = tool_results(anthropic_server)
    text = result_text(observation)
    assert observation["is_error"] and "unknown arguments" in text and "'to'" in text
    assert "note\\u000a" in text and "\n\u2192" not in text
    assert calls_in(log) == []
