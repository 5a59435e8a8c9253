"""Servers files, settings and agent runs for the MCP tests."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from activities.llm.models import ToolUseBlock
from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Reply
from worker.app import build_worker
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, AgentResult

REPO = Path(__file__).resolve().parents[2]


def stdio_server(log: Path, hold_first: str = "", **keys: Any) -> dict[str, Any]:
    """A stdio entry for `tests.mcp.servers`, as another MCP client's config would have it; its
    annotations are trusted (the suite's own server) unless `keys` say otherwise."""
    args = ["-m", "tests.mcp.servers", str(log), *([hold_first] if hold_first else [])]
    return {"command": sys.executable, "args": args, "cwd": str(REPO), "trustAnnotations": True, **keys}


def servers_file(directory: Path, servers: dict[str, dict[str, Any]]) -> Path:
    path = directory / f"mcp-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def with_servers(settings: Settings, directory: Path, servers: dict[str, dict[str, Any]]) -> Settings:
    path = servers_file(directory, servers)
    return settings.model_copy(update={"mcp_servers_file": str(path), "worker_graceful_shutdown_s": 0.0})


def tool_turn(step: int, name: str, arguments: dict[str, Any], call_id: str = "call-1") -> tuple[Reply, str]:
    """A scripted model turn that calls one tool, for `AnthropicServer.script(reply, step=...)`."""
    reply = Reply(content=[ToolUseBlock(id=call_id, name=name, input=arguments)], stop_reason="tool_use")
    return reply, f"llm step {step}"


def script_calls(server: AnthropicServer, *turns: tuple[str, dict[str, Any]], answer: str) -> None:
    """Each turn calls one tool; then the model answers `answer`."""
    for index, (name, arguments) in enumerate(turns, start=1):
        reply, step = tool_turn(index, name, arguments, call_id=f"call-{index}")
        server.script(reply, step=step)
    server.script(Reply.text(answer, stop_reason="end_turn"), step=f"llm step {len(turns) + 1}")


def tool_results(server: AnthropicServer) -> list[dict[str, Any]]:
    """Every tool_result block the model was sent, in order (the last request holds them all)."""
    last = server.requests[-1].body
    return [
        block
        for message in last["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]


async def start_agent(
    client: Client, task_queue: str, params: AgentInput
) -> WorkflowHandle[Any, AgentResult]:
    return await client.start_workflow(
        AgentWorkflow.run, params, id=f"agent-mcp-{uuid.uuid4().hex[:10]}", task_queue=task_queue
    )


async def run_agent(client: Client, settings: Settings, params: AgentInput) -> AgentResult:
    """One agent run to its end on a worker of its own built from `settings`."""
    async with build_worker(client, settings):
        handle = await start_agent(client, settings.temporal_task_queue, params)
        return await handle.result()


def result_text(block: dict[str, Any]) -> str:
    content = block["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)
