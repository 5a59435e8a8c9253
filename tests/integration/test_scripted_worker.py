"""`LLM_PROVIDER=scripted` as a user runs it: a real `python -m worker` with the shipped script
examples/scripts/mcp_files.json and the example MCP server (examples/mcp/servers.json), and
`python -m starter agent ... --wait` as a subprocess: the MCP tools are really called in the agent
loop and the scripted answer is printed. A script that does not parse stops the worker at start
with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.chaos.processes import WorkerProcess, clean_environment
from tests.starter.cli import cli_env, run_cli

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "scripts" / "mcp_files.json"


def state_in(folder: Path) -> dict[str, str]:
    """Every file a worker or starter keeps, below `folder` (not the checkout's `.state`)."""
    return {
        "WORKER_LEASE_DIR": str(folder / "workers"),
        "DEDUPE_LEDGER_PATH": str(folder / "ledger.sqlite3"),
        "INDEX_PATH": str(folder / "index.sqlite3"),
        "RUN_STATE_KEY_FILE": str(folder / "run-state.key"),
        "PAYLOAD_STORE_DIR": str(folder / "payloads"),
        "DELIVERY_FILE_ROOT": str(folder / "deliveries"),
    }


@pytest_asyncio.fixture
async def scripted_worker(
    dev_server_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[dict[str, str]]:
    """A scripted worker with the example MCP server, run from the checkout as the README says (the
    example's paths are relative to it); the starter's environment for it."""
    address = dev_server_env.client.service_client.config.target_host
    worker = WorkerProcess(
        clean_environment(
            {
                "TEMPORAL_ADDRESS": address,
                "TEMPORAL_TASK_QUEUE": task_queue,
                "LLM_PROVIDER": "scripted",
                "LLM_SCRIPT_FILE": "examples/scripts/mcp_files.json",
                "MCP_SERVERS_FILE": "examples/mcp/servers.json",
                "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                **state_in(tmp_path),
            }
        ),
        REPO,
    )
    try:
        await worker.wait_ready()
        yield {**cli_env(address, task_queue), "PAYLOAD_STORE_DIR": str(tmp_path / "payloads")}
    finally:
        await worker.stop()
    assert any("provider=scripted" in line for line in worker.lines), worker.lines[-20:]


async def test_an_agent_calls_the_mcp_tools_the_script_names_and_prints_its_answer(
    scripted_worker: dict[str, str],
) -> None:
    run = await run_cli(
        "agent", "What is in the shared folder?", "--tools", "files__*", "--wait", env=scripted_worker
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    # Both MCP tools ran, one per turn, in the order the script asks for them.
    assert any(line.startswith("  done: tool 1.1 files__list_files [tool]") for line in lines), run.stdout
    assert any(line.startswith("  done: tool 2.1 files__read_file [tool]") for line in lines), run.stdout
    answer = run.stdout.split("run ended: completed", 1)[1]
    # The last rule matched on the file's text: the observation of the real read reached the model.
    last_rule = json.loads(SCRIPT.read_text())[-1]
    assert last_rule["match"]["contains"] == "# Welcome"
    assert last_rule["reply"]["text"] in answer
    assert "outcome: completed  iterations: 3" in run.stdout


def test_a_script_that_does_not_parse_stops_the_worker_with_one_line(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"match": {"turn": 0}, "reply": {"text": "a", "tool_calls": []}}]))
    env = clean_environment(
        {"LLM_PROVIDER": "scripted", "LLM_SCRIPT_FILE": str(script), "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    )
    done = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"configuration error: LLM_SCRIPT_FILE: {script}: rule 1: reply.tool_calls: List should have at "
        "least 1 item after validation, not 0"
    ], done.stderr
