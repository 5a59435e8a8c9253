"""An agent run (Anthropic protocol, local Messages-API server) with the tools of real MCP servers
(the official SDK), over stdio and over streamable HTTP: read-only tools run and their results reach
the model; destructive tools wait for approval and run once when approved, never when rejected; a
tool's `isError` becomes an error observation; the idempotency key reaches the server in `_meta`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.mcp.servers import HttpMcpServer, calls_in
from tests.mcp.support import (
    result_text,
    run_agent,
    script_calls,
    start_agent,
    stdio_server,
    tool_results,
    with_servers,
)
from tests.workflow.support import pending_approval
from worker.app import build_worker
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, ApprovalDecision

pytestmark = pytest.mark.timeout(120)

Served = Callable[[str], tuple[Path, Settings]]


@pytest.fixture(params=["stdio", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server_entry(transport: str, tmp_path: Path) -> Any:
    log = tmp_path / "calls.jsonl"
    if transport == "stdio":
        yield log, stdio_server(log)
        return
    with HttpMcpServer(log) as server:
        yield log, {"url": server.url, "trustAnnotations": True}


@pytest.fixture
def served(server_entry: Any, anthropic_settings: Settings, tmp_path: Path) -> Served:
    """The test server under a name of the worker's MCP_SERVERS_FILE: its call log and the settings."""
    log, entry = server_entry
    return lambda name: (log, with_servers(anthropic_settings, tmp_path, {name: entry}))


async def test_a_read_only_tool_runs_and_the_model_answers_from_its_result(
    dev_client: Client, anthropic_server: AnthropicServer, served: Served
) -> None:
    log, settings = served("weather")
    script_calls(anthropic_server, ("weather__lookup", {"city": "Oslo"}), answer="Oslo is sunny.")
    result = await run_agent(
        dev_client, settings, AgentInput(goal="Weather in Oslo?", tools=["weather__lookup"])
    )
    assert result.outcome == "completed" and result.answer == "Oslo is sunny."
    offered = [tool["name"] for tool in anthropic_server.requests[0].body["tools"]]
    assert offered == ["weather__lookup"]
    [observation] = tool_results(anthropic_server)
    assert "sunny, 21 C" in result_text(observation) and not observation.get("is_error")
    [call] = calls_in(log)
    assert call == {"tool": "lookup", "arguments": {"city": "Oslo"}, "key": None, "pid": call["pid"]}
    assert [s.step for s in result.steps if s.kind == "tool"] == ["tool 1.1 weather__lookup"]


async def test_is_error_becomes_an_error_observation(
    dev_client: Client, anthropic_server: AnthropicServer, served: Served
) -> None:
    log, settings = served("archive")
    script_calls(
        anthropic_server, ("archive__broken", {"reason": "maintenance"}), answer="The archive is down."
    )
    result = await run_agent(dev_client, settings, AgentInput(goal="Check the archive", tools=["archive__*"]))
    [observation] = tool_results(anthropic_server)
    assert observation["is_error"] is True
    assert "the archive is offline (maintenance)" in result_text(observation)
    assert len(calls_in(log, "broken")) == 1  # an error result is an answer: not retried
    [tool_step] = [s for s in result.steps if s.kind == "tool"]
    assert not tool_step.ok and "archive is offline" in tool_step.detail
    # `archive__*` offered every allowed tool of the server, sorted, but those that need approval
    # (nobody could approve them in this run).
    offered = [tool["name"] for tool in anthropic_server.requests[0].body["tools"]]
    assert offered == [
        "archive__broken",
        "archive__environment_names",
        "archive__lookup",
        "archive__slow_lookup",
    ]


@pytest.mark.parametrize("approved", [True, False])
async def test_a_destructive_tool_waits_for_approval_and_runs_once_only_when_approved(
    dev_client: Client, anthropic_server: AnthropicServer, served: Served, approved: bool
) -> None:
    log, settings = served("records")
    script_calls(anthropic_server, ("records__delete_record", {"record_id": "r-42"}), answer="Done.")
    params = AgentInput(goal="Delete record r-42", tools=["records__delete_record"], approvers=["alice"])
    async with build_worker(dev_client, settings):
        handle = await start_agent(dev_client, settings.temporal_task_queue, params)
        status = await pending_approval(handle)
        pending = status.pending_approval
        assert pending is not None and calls_in(log) == []  # nothing is sent before the decision
        assert pending.proposed is not None and pending.proposed.name == "records__delete_record"
        assert [(f.name, f.value) for f in pending.proposed.fields] == [("record_id", "r-42")]
        await handle.execute_update(
            AgentWorkflow.approve,
            ApprovalDecision(
                approver="alice", approved=approved, comment="checked", action_hash=pending.action_hash
            ),
        )
        result = await handle.result()
    [observation] = tool_results(anthropic_server)
    calls = calls_in(log, "delete_record")
    if approved:
        assert len(calls) == 1 and "record r-42 deleted" in result_text(observation)
        # The call's idempotency key went to the server in `_meta`.
        assert calls[0]["key"].startswith(
            f"{handle.id}/{handle.first_execution_run_id}/step-1/records__delete_record-"
        )
    else:
        assert calls == [] and observation["is_error"] is True
        assert "rejected by alice: checked" in result_text(observation)
    assert [d.approved for d in result.decisions] == [approved]


async def test_allow_and_deny_lists_and_the_approval_policy_shape_what_is_offered(
    dev_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    entry = stdio_server(log, denyTools=["delete_record", "environment_names"], approval="never")
    settings = with_servers(anthropic_settings, tmp_path, {"ops": entry})
    script_calls(anthropic_server, answer="Nothing to do.")
    await run_agent(dev_client, settings, AgentInput(goal="Look", tools=["ops__*"]))
    offered = [tool["name"] for tool in anthropic_server.requests[0].body["tools"]]
    assert offered == ["ops__broken", "ops__lookup", "ops__slow_lookup"]
    lookup = next(t for t in anthropic_server.requests[0].body["tools"] if t["name"] == "ops__lookup")
    assert lookup["description"] == "The current weather in a city."
    assert lookup["input_schema"]["required"] == ["city"]


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (["nowhere__lookup"], "unknown MCP servers ['nowhere']: not in the worker's MCP_SERVERS_FILE"),
        (["weather__forecast"], "unknown tools ['weather__forecast']"),
    ],
)
async def test_an_unknown_server_or_tool_fails_the_run_at_once_in_one_line(
    dev_client: Client, settings: Settings, tmp_path: Path, tools: list[str], message: str
) -> None:
    settings = with_servers(settings, tmp_path, {"weather": stdio_server(tmp_path / "calls.jsonl")})
    async with build_worker(dev_client, settings):
        handle = await start_agent(
            dev_client, settings.temporal_task_queue, AgentInput(goal="g", tools=tools)
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.non_retryable
    assert message in cause.message
