"""The codec server as people use it: the `temporal` CLI (which speaks the same codec-server protocol
as the Web UI) shows an encrypted run's history in clear text through `python -m worker.codec_server`,
given the token (a request without it gets 401: test_codec_server.py)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client

from common.encryption import new_key_entry
from common.settings import Settings
from starter import api
from tests.security.codec_process import codec_server
from tests.security.history import client_with_keys
from worker.app import build_worker
from workflows.models import ResearchInput

KEYS = new_key_entry("k1")
TOKEN = "cli-codec-token-3f9a"
CANARY = "canary-cli-77e2"
TEMPORAL_CLI = Path(sys.executable).parent / "temporal"


def payload_texts(history_json: str) -> str:
    """Every payload's data in `temporal workflow show -o json` output (protobuf JSON keeps it base64)."""
    found: list[str] = []

    def visit(node: object) -> None:
        if isinstance(node, dict):
            if "data" in node and "metadata" in node:
                found.append(base64.b64decode(node["data"]).decode(errors="replace"))
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(json.loads(history_json))
    return "\n".join(found)


def show(client: Client, workflow_id: str, *codec_flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    return subprocess.run(
        [
            str(TEMPORAL_CLI),
            "workflow",
            "show",
            "--workflow-id",
            workflow_id,
            "--address",
            client.service_client.config.target_host,
            "--namespace",
            client.namespace,
            "--output",
            "json",
            *codec_flags,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_cli_decodes_history_through_the_codec_server_with_the_token(
    dev_client: Client, settings: Settings, task_queue: str
) -> None:
    client = client_with_keys(dev_client, KEYS)
    async with build_worker(client, settings):
        handle = await api.start_research(
            client, ResearchInput(topic=f"tide tables {CANARY}", max_subtopics=1), task_queue=task_queue
        )
        await handle.result()

    without_codec = show(dev_client, handle.id)
    assert without_codec.returncode == 0 and CANARY not in payload_texts(without_codec.stdout)

    with codec_server(KEYS, TOKEN, "http://localhost:8233") as server:
        decoded = show(
            dev_client, handle.id, "--codec-endpoint", server.url, "--codec-auth", f"Bearer {TOKEN}"
        )

    assert decoded.returncode == 0, decoded.stderr
    assert CANARY in payload_texts(decoded.stdout)
    assert any("POST /decode" in line and "200" in line for line in server.log)
