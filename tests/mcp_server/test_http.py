"""`python -m starter mcp --http HOST:PORT`: streamable HTTP behind a bearer token. Without the token,
or with another, a request is refused with 401; with it, the official client lists the tools and gets
a cited answer; with no token configured the server does not start."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import AsyncIterator

import httpx2
import pytest
import pytest_asyncio

from common.devserver import port_open
from tests.answer.support import ANSWER_SOURCE, QUESTION
from tests.chaos.processes import free_port
from tests.mcp_server.support import REPO, Product, ProgressSeen, http_client, payload
from tests.starter.cli import run_cli

pytestmark = pytest.mark.timeout(240)

TOKEN = secrets.token_hex(16)
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}


@pytest_asyncio.fixture
async def http_server(product: Product) -> AsyncIterator[str]:
    """The server as a subprocess on a free port; its URL once it listens."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter",
        "mcp",
        "--http",
        f"127.0.0.1:{port}",
        env=product.server_env(MCP_SERVER_TOKEN=TOKEN),
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            while not port_open("127.0.0.1", port):
                assert process.returncode is None, "the server exited"
                await asyncio.sleep(0.05)  # a poll interval: the server starts on its own
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        await process.wait()


async def test_requests_without_the_token_or_with_another_are_refused(http_server: str) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=30) as http:
        missing = await http.post(http_server, json=INITIALIZE, headers=headers)
        wrong = await http.post(
            http_server, json=INITIALIZE, headers={**headers, "Authorization": f"Bearer {TOKEN}x"}
        )
        not_bearer = await http.post(
            http_server, json=INITIALIZE, headers={**headers, "Authorization": TOKEN}
        )
        accepted = await http.post(
            http_server, json=INITIALIZE, headers={**headers, "Authorization": f"Bearer {TOKEN}"}
        )
    for refused in (missing, wrong, not_bearer):
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in refused.text
    assert accepted.status_code == 200, accepted.text


async def test_the_official_client_with_the_token_gets_a_cited_answer(
    http_server: str, product: Product
) -> None:
    seen = ProgressSeen()
    async with http_client(http_server, TOKEN) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        answered = payload(
            await client.call_tool(
                "ask", {"question": QUESTION, "corpus": product.corpus}, progress_callback=seen
            )
        )
    assert {"ask", "research", "run_result", "pending_approvals"} <= names and "approve" not in names
    assert answered["outcome"] == "grounded"
    assert ANSWER_SOURCE in {citation["source"] for citation in answered["citations"]}
    assert seen.messages and seen.messages[-1] == "run ended: completed"


async def test_no_token_no_http_server(product: Product) -> None:
    refused = await run_cli("mcp", "--http", f"127.0.0.1:{free_port()}", env=product.env, timeout_s=60)
    assert refused.returncode == 2
    assert refused.stderr.startswith("configuration error: MCP_SERVER_TOKEN: required for --http")
    assert refused.stderr.count("\n") == 1
