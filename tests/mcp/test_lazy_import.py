"""A worker without MCP servers does not load the `mcp` SDK (0.7 s of start-up, which a replacement
worker spends before it polls): `mcp.list_tools` and `mcp.call_tool` are registered all the same, and
answer without it (no servers known; a call is a configuration error). Nor, without an embeddings
endpoint, does it load numpy (dense retrieval's, 0.2 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chaos.processes import clean_environment

pytestmark = pytest.mark.timeout(120)

# What `python -m worker` imports and builds before it connects, then both activities run as a
# worker runs them (inside its resources), then what is loaded.
PROBE = """
import asyncio, json, sys
import worker.__main__
from temporalio import activity
from temporalio.exceptions import ApplicationError
from activities.mcp.activities import call_mcp_tool, list_mcp_tools
from activities.mcp.startup import check_mcp_servers
from activities.resources import WorkerResources, using
from common.contracts.mcp import McpCallRequest, McpListRequest
from common.settings import load_settings
from worker.plugin import AiWorkflowsPlugin

settings = load_settings()
plugin = AiWorkflowsPlugin(settings)
names = [activity._Definition.must_from_callable(fn).name for fn in plugin.activities]

async def run() -> dict:
    found = {"startup": await check_mcp_servers(settings)}
    with using(WorkerResources(settings)):
        listed = await list_mcp_tools(McpListRequest(servers=["files"]))
        found["unknown"] = listed.unknown_servers
        try:
            await call_mcp_tool(McpCallRequest(name="files__read", server="files", tool="read"))
        except ApplicationError as error:
            found["call"] = [error.type, error.non_retryable, error.message]
    return found

found = asyncio.run(run())
found["names"] = names
found["loaded"] = sorted(m for m in ("mcp", "mcp_types", "httpx2", "numpy") if m in sys.modules)
print(json.dumps(found))
"""


def test_a_worker_without_mcp_servers_or_embeddings_does_not_import_their_libraries(tmp_path: Path) -> None:
    env = clean_environment({"LLM_PROVIDER": "offline", "PAYLOAD_STORE": "off"})
    for feature in ("MCP_SERVERS_FILE", "EMBEDDINGS_BASE_URL"):
        env.pop(feature, None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert {"mcp.list_tools", "mcp.call_tool"} <= set(found["names"])
    assert found["startup"] == [] and found["unknown"] == ["files"]
    assert found["call"] == [
        "McpConfigError",
        True,
        "MCP server 'files' is not in this worker's MCP_SERVERS_FILE",
    ]
    assert found["loaded"] == []
