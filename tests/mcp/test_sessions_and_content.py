"""A worker's session with a real stdio server (the official SDK on both ends): the server inherits
no secret of the worker's environment; and how a tool result becomes what the model reads."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from mcp_types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from activities.mcp.config import load_mcp_config
from activities.mcp.content import MAX_RESULT_CHARS, observation_of
from activities.mcp.sessions import McpServerUnavailable, McpSessions
from tests.mcp.support import servers_file, stdio_server


async def test_a_stdio_server_sees_only_what_its_env_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_ONLY_SECRET", "s3cret")
    monkeypatch.setenv("SHARED_WITH_SERVER", "ok")
    entry = stdio_server(tmp_path / "calls.jsonl", env={"GIVEN_TOKEN": "${SHARED_WITH_SERVER}"})
    sessions = McpSessions(load_mcp_config(servers_file(tmp_path, {"env": entry})))
    try:
        client = await sessions.client("env")
        result = await client.call_tool("environment_names", {})
    finally:
        await sessions.aclose()
    names = observation_of(result).content.splitlines()
    assert "GIVEN_TOKEN" in names and "PATH" in names
    assert "WORKER_ONLY_SECRET" not in names and "SHARED_WITH_SERVER" not in names


async def test_an_unreachable_server_is_a_retryable_one_line_error(tmp_path: Path) -> None:
    entry = {"command": "/nonexistent/mcp-server", "connectTimeoutSeconds": 5}
    sessions = McpSessions(load_mcp_config(servers_file(tmp_path, {"gone": entry})))
    with pytest.raises(McpServerUnavailable) as raised:
        await sessions.list_tools("gone")
    await sessions.aclose()
    assert str(raised.value).startswith("MCP server 'gone' (command /nonexistent/mcp-server):")
    assert "\n" not in str(raised.value)


def test_content_blocks_become_text_the_model_reads() -> None:
    png = base64.b64encode(b"\x89PNG" + b"\0" * 96).decode()
    result = CallToolResult(
        content=[
            TextContent(text="Found 2 files."),
            ImageContent(data=png, mime_type="image/png"),
            ResourceLink(name="report.pdf", uri="file:///srv/report.pdf", description="the Q3 report"),
            EmbeddedResource(
                resource=TextResourceContents(uri="file:///srv/notes.txt", text="remember the milk")
            ),
        ]
    )
    observation = observation_of(result)
    assert observation.content.splitlines() == [
        "Found 2 files.",
        "[image image/png, 100 bytes]",
        "[resource report.pdf: file:///srv/report.pdf (the Q3 report)]",
        "[resource file:///srv/notes.txt]",
        "remember the milk",
    ]
    assert not observation.is_error


def test_structured_content_is_shown_once_and_errors_stay_errors() -> None:
    structured_only = CallToolResult(content=[], structured_content={"count": 3})
    assert observation_of(structured_only).content == '{"count": 3}'
    both = CallToolResult(content=[TextContent(text='{"count": 3}')], structured_content={"count": 3})
    assert observation_of(both).content == '{"count": 3}'
    failed = CallToolResult(content=[TextContent(text="no such file")], is_error=True)
    assert observation_of(failed).is_error and observation_of(failed).content == "no such file"
    assert observation_of(CallToolResult(content=[])).content == "(no content)"


def test_a_result_above_the_cap_is_cut_with_a_note() -> None:
    huge = CallToolResult(content=[TextContent(text="x" * (MAX_RESULT_CHARS + 10))])
    content = observation_of(huge).content
    assert content.endswith(f"\n[truncated {MAX_RESULT_CHARS + 10} chars]")
    assert len(content) < MAX_RESULT_CHARS + 40
