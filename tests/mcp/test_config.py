"""The servers file: the shared `mcpServers` format plus this product's keys; every mistake is one
line naming the file and what is wrong; `${VAR}`s come from the worker's environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from activities.mcp.config import McpConfigError, load_mcp_config, stdio_environment


def write(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "servers.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_a_file_pasted_from_another_client_loads_with_this_products_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "mcpServers": {
                "files": {
                    "command": "npx",
                    "args": ["-y", "some-server", "/srv"],
                    "env": {"TOKEN": "${FILES_TOKEN}"},
                },
                "tickets": {
                    "type": "http",
                    "url": "https://mcp.example.com/mcp",
                    "headers": {"Authorization": "Bearer ${TICKETS_TOKEN}"},
                    "allowTools": ["search", "close"],
                    "denyTools": ["close"],
                    "approval": "always",
                    "callTimeoutSeconds": 120,
                },
                "off": {"command": "x", "disabled": True},
            },
            "otherClientSetting": True,
        },
    )
    config = load_mcp_config(path, {"FILES_TOKEN": "f-1", "TICKETS_TOKEN": "t-2"})
    assert sorted(config.enabled()) == ["files", "tickets"]
    files, tickets = config.servers["files"], config.servers["tickets"]
    assert files.transport == "stdio" and files.env == {"TOKEN": "f-1"} and files.approval == "annotations"
    assert tickets.transport == "http" and tickets.headers == {"Authorization": "Bearer t-2"}
    assert tickets.call_timeout_s == 120 and tickets.approval == "always"
    assert tickets.allows("search") and not tickets.allows("close") and not tickets.allows("delete")
    assert files.allows("anything")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ({"servers": {}}, 'expected an object with "mcpServers"'),
        ({"mcpServers": {"a": {"command": "x", "url": "http://h/mcp"}}}, "either `command` (stdio) or `url`"),
        ({"mcpServers": {"a": {}}}, "either `command` (stdio) or `url`"),
        ({"mcpServers": {"a": {"url": "ftp://h/"}}}, "http:// or https://"),
        ({"mcpServers": {"a": {"command": "x", "aproval": "never"}}}, "mcpServers.a.aproval: Extra inputs"),
        ({"mcpServers": {"a": {"command": "x", "approval": "sometimes"}}}, "mcpServers.a.approval"),
        ({"mcpServers": {"my__server": {"command": "x"}}}, "server name 'my__server'"),
        ({"mcpServers": {"a b": {"command": "x"}}}, "server name 'a b'"),
        (
            {"mcpServers": {"a": {"url": "https://h/mcp", "headers": {"X": "${NOPE}"}}}},
            "${NOPE}, which is not set",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file(tmp_path: Path, content: Any, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(McpConfigError) as raised:
        load_mcp_config(path, {})
    text = str(raised.value)
    assert message in text and text.startswith(f"MCP_SERVERS_FILE {path}:") and "\n" not in text


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(McpConfigError, match="cannot read it"):
        load_mcp_config(tmp_path / "absent.json", {})


def test_a_stdio_server_gets_locale_and_its_own_env_only(tmp_path: Path) -> None:
    path = write(tmp_path, {"mcpServers": {"a": {"command": "x", "env": {"API_KEY": "${A_KEY}"}}}})
    worker_env = {"A_KEY": "k", "ANTHROPIC_API_KEY": "secret", "LANG": "C.UTF-8", "PAYLOAD_KEYS": "secret"}
    config = load_mcp_config(path, worker_env)
    assert stdio_environment(config.servers["a"], worker_env) == {"LANG": "C.UTF-8", "API_KEY": "k"}
