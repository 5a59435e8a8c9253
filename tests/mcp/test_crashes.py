"""Crashes around an MCP call.

- The worker SIGKILLed while a non-idempotent call is in flight: the replacement worker does not
  send it again (the server counts exactly one call); the run gets an error observation saying the
  outcome is unknown, and goes on.
- The MCP server killed mid-call (a stdio server, the worker's child): the call fails in transport,
  is retried, and succeeds on the server the worker starts again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from common.settings import Settings
from tests.chaos.processes import ReplaceableWorker, clean_environment
from tests.fakes.anthropic_server import AnthropicServer
from tests.mcp.servers import HttpMcpServer, calls_in
from tests.mcp.support import (
    result_text,
    script_calls,
    servers_file,
    start_agent,
    stdio_server,
    tool_results,
    with_servers,
)
from worker.app import build_worker
from workflows.models import AgentInput

pytestmark = pytest.mark.timeout(180)


async def wait_for(condition: object, timeout_s: float = 30.0) -> None:
    """Until `condition()` holds: the server's own log is the signal."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.05)


async def test_a_worker_killed_mid_call_never_sends_a_non_idempotent_call_twice(
    dev_server_env: WorkflowEnvironment, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    client = dev_server_env.client
    task_queue = f"mcp-kill-{uuid.uuid4().hex[:8]}"
    log, hold = tmp_path / "calls.jsonl", threading.Event()
    script_calls(anthropic_server, ("records__delete_record", {"record_id": "r-7"}), answer="Checked.")
    with HttpMcpServer(log, hold) as server:
        # approval "never": the call goes out at once; at-most-once does not depend on approval.
        path = servers_file(tmp_path, {"records": {"url": server.url, "approval": "never"}})
        env = clean_environment(
            {
                "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
                "TEMPORAL_TASK_QUEUE": task_queue,
                "LLM_PROVIDER": "anthropic",
                "ANTHROPIC_API_KEY": "test",
                "ANTHROPIC_BASE_URL": anthropic_server.base_url,
                "PAYLOAD_STORE": "off",
                "DEDUPE_LEDGER_PATH": str(tmp_path / "dedupe-ledger.sqlite3"),
                "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                "MCP_SERVERS_FILE": str(path),
            }
        )
        async with ReplaceableWorker(env, tmp_path, release=hold.set) as worker:
            params = AgentInput(goal="Delete r-7", tools=["records__delete_record"])
            handle = await start_agent(client, task_queue, params)
            arrived = server.app.arrived  # type: ignore[attr-defined]
            assert await asyncio.to_thread(arrived.wait, 60), "the call never reached the server"
            await worker.kill()  # the server has the call; its answer will never reach the worker
            hold.set()
            worker.replace()
            result = await handle.result()
    assert len(calls_in(log, "delete_record")) == 1
    [observation] = tool_results(anthropic_server)
    assert observation["is_error"] is True
    assert "the outcome of this call is unknown" in result_text(observation)
    assert result.outcome == "completed" and result.answer == "Checked."


async def test_an_mcp_server_killed_mid_call_is_started_again_and_the_call_retried(
    dev_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    settings = with_servers(
        anthropic_settings, tmp_path, {"archive": stdio_server(log, hold_first="slow_lookup")}
    )
    script_calls(anthropic_server, ("archive__slow_lookup", {"city": "Bergen"}), answer="Rain in Bergen.")
    async with build_worker(dev_client, settings):
        handle = await start_agent(
            dev_client,
            settings.temporal_task_queue,
            AgentInput(goal="Weather in Bergen last week?", tools=["archive__slow_lookup"]),
        )
        await wait_for(lambda: len(calls_in(log, "slow_lookup")) == 1)
        [first] = calls_in(log, "slow_lookup")
        os.kill(first["pid"], signal.SIGKILL)  # the server dies with the call in flight
        killed_at = time.monotonic()
        result = await handle.result()
        print(f"\nMCP server killed -> run completed: {time.monotonic() - killed_at:.2f} s")
    calls = calls_in(log, "slow_lookup")
    assert len(calls) == 2 and calls[1]["pid"] != first["pid"]  # a new server process answered
    [observation] = tool_results(anthropic_server)
    assert not observation.get("is_error") and "had rain" in result_text(observation)
    assert result.answer == "Rain in Bergen."
