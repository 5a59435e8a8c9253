"""Runs read by clients that have neither this product's payload store nor its converter: a Node.js
service with `@temporalio/client` (tests/interop/node, installed by `make test` with `npm ci`) and
the `temporal` CLI. Their answers are over 16 KiB, twice the store's threshold; every client reads
the results, the `status` query and the `approve` Update as plain JSON."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest
from temporalio.client import Client

from common.settings import Settings
from tests.binaries import TEMPORAL_CLI
from tests.storage.long_answers import FILLER, long_answer_worker

NODE_DIR = Path(__file__).resolve().parent / "node"
ANSWER_BYTES = 20_000  # > 16 KiB
STORED_REFERENCE = "ExternalStorageReference"


def node_client_ready() -> None:
    """`make test` runs `npm ci` here; run directly, pytest does the same (pinned by the lock file)."""
    assert shutil.which("node") and shutil.which("npm"), "Node.js and npm are needed (apt: nodejs npm)"
    if not (NODE_DIR / "node_modules" / "@temporalio" / "client").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600)


def cli(*args: str, address: str) -> str:
    done = subprocess.run(
        [str(TEMPORAL_CLI), *args, "--address", address], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module", autouse=True)
def _node() -> None:
    node_client_ready()


async def test_node_client_and_cli_read_long_answers(
    dev_client: Client, settings: Settings, task_queue: str
) -> None:
    assert settings.payload_store == "local" and settings.payload_store_threshold_bytes < ANSWER_BYTES // 2
    address = dev_client.service_client.config.target_host
    prefix = f"interop-{uuid.uuid4().hex[:8]}"
    async with long_answer_worker(dev_client, settings, ANSWER_BYTES):  # the worker runs on this loop
        node = await asyncio.create_subprocess_exec(
            "node", "interop.mjs", address, task_queue, prefix, cwd=NODE_DIR, stdout=PIPE, stderr=PIPE
        )
        stdout, stderr = await asyncio.wait_for(node.communicate(), timeout=180)
    assert node.returncode == 0, stderr.decode()
    seen = json.loads(stdout)

    agent, research = seen["agent"], seen["research"]
    assert len(agent["answer"]) >= ANSWER_BYTES and "391" in agent["answer"] and FILLER in agent["answer"]
    assert agent["phase"] == "completed"
    assert len(research["report"]) >= ANSWER_BYTES and FILLER in research["report"]
    assert research["waiting_phase"] == "awaiting_approval"
    assert research["decision"]["approver"] == "ana" and research["decision"]["approved"] is True
    assert research["phase"] == "completed"

    for run, text in ((agent["id"], agent["answer"]), (research["id"], research["report"])):
        result = cli("workflow", "result", "--workflow-id", run, "--output", "json", address=address)
        assert STORED_REFERENCE not in result
        assert text[-200:] in json.dumps(json.loads(result), ensure_ascii=False)
        shown = cli("workflow", "show", "--workflow-id", run, address=address)
        assert STORED_REFERENCE not in shown.split("Results:")[-1]
        assert "391" in shown or FILLER in shown
