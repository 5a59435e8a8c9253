"""A worker without MCP servers does not load the `mcp` SDK (0.7 s of start-up, which a replacement
worker spends before it polls): `mcp.list_tools` and `mcp.call_tool` are registered all the same, and
answer without it (no servers known; a call is a configuration error). Nor, without an embeddings
endpoint, does it load numpy (dense retrieval's, 0.2 s). A worker that configures them loads them when
it is built; one that did not imports them on first use without stalling its event loop, however
many activities get there at once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from importlib import import_module
from pathlib import Path
from types import ModuleType

import pytest

from common.lazy_import import import_off_loop
from tests.chaos.processes import clean_environment
from tests.mcp.servers import calls_in
from tests.mcp.support import servers_file, stdio_server

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


# A worker built with MCP servers and an embeddings endpoint: what its build loaded before any
# activity, then its first MCP call (a real stdio server), inside the worker's resources.
CONFIGURED_PROBE = """
import asyncio, json, sys
from activities.mcp.activities import call_mcp_tool
from activities.resources import using
from common.contracts.mcp import McpCallRequest
from common.settings import load_settings
from worker.plugin import AiWorkflowsPlugin

plugin = AiWorkflowsPlugin(load_settings())
found = {"built": sorted(m for m in ("activities.mcp.calls", "numpy") if m in sys.modules)}

async def run() -> None:
    with using(plugin.resources):
        request = McpCallRequest(name="tools__lookup", server="tools", tool="lookup", arguments={"city": "Oslo"})
        observation = await call_mcp_tool(request)
        found["call"] = [observation.is_error, observation.content]
    await plugin.resources.aclose()

asyncio.run(run())
print(json.dumps(found))
"""


def test_a_worker_with_mcp_servers_and_embeddings_loads_their_libraries_when_it_is_built(
    tmp_path: Path,
) -> None:
    """docs/operations.md: such a worker imports them at start, not in a first activity."""
    servers = servers_file(tmp_path, {"tools": stdio_server(tmp_path / "calls.jsonl")})
    env = clean_environment(
        {
            "LLM_PROVIDER": "offline",
            "PAYLOAD_STORE": "off",
            "MCP_SERVERS_FILE": str(servers),
            "EMBEDDINGS_BASE_URL": "http://127.0.0.1:9/v1",  # never called: nothing is indexed
            "DEDUPE_LEDGER_PATH": str(tmp_path / "ledger.sqlite3"),
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", CONFIGURED_PROBE],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["built"] == ["activities.mcp.calls", "numpy"]
    assert found["call"][0] is False and "Oslo" in found["call"][1]
    assert [call["tool"] for call in calls_in(tmp_path / "calls.jsonl")] == ["lookup"]


# A module whose import waits for the test to open its gate: the test can open it only while the
# event loop runs.
GATED_MODULE = """
import threading
GATE = threading.Event()
OPENED_BY_THE_LOOP = GATE.wait(timeout=5)
"""


async def test_a_second_first_use_during_the_import_waits_off_the_event_loop_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two activities' first uses at once (say a fan-out of index batches on a worker that did not load
    numpy at start): while the first one's thread imports the module, it is already in sys.modules,
    half run; the second must wait for it off the loop as well, not in an `import` on the loop."""
    name = f"gated_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(GATED_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))

    async def first_use() -> ModuleType:
        await import_off_loop(name)
        return import_module(name)  # what an activity's `import` does next, on the loop

    first = asyncio.create_task(first_use())
    deadline = time.monotonic() + 10
    while name not in sys.modules:  # the first import is under way, in its thread
        assert time.monotonic() < deadline, "the first import never started"
        await asyncio.sleep(0.01)
    second = asyncio.create_task(first_use())
    await asyncio.sleep(0)  # the second use's first step runs
    sys.modules[name].GATE.set()
    modules = await asyncio.gather(first, second)
    assert [module.OPENED_BY_THE_LOOP for module in modules] == [True, True]
