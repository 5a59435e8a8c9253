"""`python -m worker` with a bad MCP_SERVERS_FILE or an unreachable server stops at start-up with
one line naming the problem (before it connects to Temporal: no server is needed to see it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.chaos.processes import clean_environment
from tests.mcp.support import servers_file

pytestmark = pytest.mark.timeout(120)


def start_worker(tmp_path: Path, servers: str) -> tuple[int, list[str]]:
    env = clean_environment(
        {
            "MCP_SERVERS_FILE": servers,
            "LLM_PROVIDER": "offline",
            "PAYLOAD_STORE": "off",
            "TEMPORAL_ADDRESS": "127.0.0.1:1",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    return done.returncode, errors


def test_a_bad_file_stops_the_worker_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "servers.json"
    path.write_text('{"mcpServers": {"files": {"command": "x", "url": "http://127.0.0.1:9/mcp"}}}')
    code, errors = start_worker(tmp_path, str(path))
    assert code == 1
    assert len(errors) == 1 and f"MCP_SERVERS_FILE {path}: mcpServers.files" in errors[0]


def test_an_unreachable_server_stops_the_worker_with_one_line(tmp_path: Path, unused_port_url: str) -> None:
    path = servers_file(tmp_path, {"tickets": {"url": f"{unused_port_url}/mcp", "connectTimeoutSeconds": 10}})
    code, errors = start_worker(tmp_path, str(path))
    assert code == 1 and len(errors) == 1
    assert "MCP server 'tickets'" in errors[0] and f"(MCP_SERVERS_FILE {path})" in errors[0]
