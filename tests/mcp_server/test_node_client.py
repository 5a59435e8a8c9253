"""An MCP client nobody on the team wrote: the official TypeScript SDK (`@modelcontextprotocol/sdk`
from npm, pinned by tests/mcp_server/node/package-lock.json, installed by `make test` with `npm ci`)
launches `python -m starter mcp` over stdio, lists the tools, gets a cited answer with progress, and
gets a tool error for a bad input."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from tests.answer.support import ANSWER_SENTENCE, ANSWER_SOURCE, QUESTION
from tests.mcp_server.support import REPO, Product

pytestmark = pytest.mark.timeout(300)

NODE_DIR = Path(__file__).resolve().parent / "node"


def node_client_ready() -> None:
    """`make test` runs `npm ci` here; run directly, pytest does the same (pinned by the lock file)."""
    assert shutil.which("node") and shutil.which("npm"), "Node.js and npm are needed (apt: nodejs npm)"
    if not (NODE_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600)


async def test_the_typescript_sdk_lists_tools_and_gets_a_cited_answer(product: Product) -> None:
    node_client_ready()
    node = await asyncio.create_subprocess_exec(
        "node",
        "client.mjs",
        sys.executable,
        str(REPO),
        product.corpus,
        QUESTION,
        cwd=NODE_DIR,
        env=product.env,
        stdout=PIPE,
        stderr=PIPE,
    )
    stdout, stderr = await asyncio.wait_for(node.communicate(), timeout=240)
    assert node.returncode == 0, stderr.decode()
    seen = json.loads(stdout)

    assert seen["server"]["name"] == "ai-workflows"
    tools = {tool["name"]: tool for tool in seen["tools"]}
    assert {"ask", "research", "agent", "start_run", "run_status", "run_result", "pending_approvals"} <= set(
        tools
    )
    assert tools["ask"]["required"] == ["question"] and tools["ask"]["readOnly"] is False
    assert tools["run_status"]["readOnly"] is True and tools["run_result"]["readOnly"] is True

    asked = seen["ask"]
    assert asked["isError"] is False and json.loads(asked["text"]) == asked["structured"]
    answer = asked["structured"]
    assert answer["outcome"] == "grounded" and ANSWER_SENTENCE in answer["answer"]
    assert any(c["source"] == ANSWER_SOURCE and c["quote"] == ANSWER_SENTENCE for c in answer["citations"])
    assert [note["progress"] for note in seen["progress"]] == list(range(1, len(seen["progress"]) + 1))
    assert seen["progress"][-1]["message"] == "run ended: completed"

    assert seen["refused"] == {
        "isError": True,
        "text": "invalid top_k: Input should be greater than or equal to 1",
    }
