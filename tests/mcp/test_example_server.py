"""The shipped example (examples/mcp/servers.json and its files server), as `make demo`'s worker
starts it: its tools, what this product makes of their annotations, and its confinement."""

from __future__ import annotations

import pytest

from activities.mcp.activities import tool_info
from activities.mcp.config import load_mcp_config
from activities.mcp.content import observation_of
from activities.mcp.sessions import McpSessions
from tests.mcp.support import REPO

EXAMPLE = REPO / "examples" / "mcp" / "servers.json"


async def test_the_example_server_lists_reads_and_stays_in_its_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)  # the example's paths are relative to the repository, like `make demo`'s
    config = load_mcp_config(EXAMPLE)
    sessions = McpSessions(config)
    try:
        tools = {tool.name: tool for tool in await sessions.list_tools("files")}
        client = await sessions.client("files")
        listed = observation_of(await client.call_tool("list_files", {"path": "."}))
        read = observation_of(await client.call_tool("read_file", {"path": "welcome.md"}))
        escape = observation_of(await client.call_tool("read_file", {"path": "../../../pyproject.toml"}))
    finally:
        await sessions.aclose()
    infos = {name: tool_info("files", config.servers["files"], tool) for name, tool in tools.items()}
    policies = {name: (i.needs_approval, i.at_most_once) for name, i in sorted(infos.items())}
    assert policies == {
        "delete_file": (True, True),
        "list_files": (False, False),
        "read_file": (False, False),
        "write_file": (True, False),  # idempotent: retried freely
    }
    assert "welcome.md" in listed.content and "# Welcome" in read.content
    assert escape.is_error and "outside the shared folder" in escape.content
