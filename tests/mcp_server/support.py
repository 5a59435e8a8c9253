"""The product behind `python -m starter mcp`, as the MCP server tests meet it: a real `python -m
worker` on the dev server (offline model, the test corpus indexed, signed approvals on with ana's
key), and the server's environment (and clients) for stdio and HTTP."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent
from temporalio.client import Client as TemporalClient

from common.approval_signing import new_key_pair
from starter import api
from tests.answer.support import CORPUS
from tests.chaos.processes import WorkerProcess, clean_environment
from tests.starter.cli import cli_env
from workflows.index import IndexInput, IndexResult

REPO = Path(__file__).resolve().parents[2]
APPROVER = "ana"


@dataclass
class Product:
    client: TemporalClient  # the tests' own view of the runs
    env: dict[str, str]  # the MCP server's environment: Temporal, the task queue, the payload store
    corpus: str
    approver_key: Path  # ana's private key (her public one is in the worker's APPROVER_KEYS_FILE)

    def server_env(self, **extra: str) -> dict[str, str]:
        return {**self.env, **extra}

    def approver_env(self) -> dict[str, str]:
        return self.server_env(
            MCP_SERVER_APPROVER_KEY_FILE=str(self.approver_key), MCP_SERVER_APPROVER=APPROVER
        )


@asynccontextmanager
async def running_product(temporal: TemporalClient, state: Path) -> AsyncIterator[Product]:
    address = temporal.service_client.config.target_host
    task_queue = f"mcp-server-{uuid.uuid4().hex[:8]}"
    key, public = new_key_pair(APPROVER, state / "keys")
    keys_file = state / "approvers.json"
    keys_file.write_text(json.dumps({APPROVER: public.read_text().strip()}))
    worker_state = {
        "WORKER_LEASE_DIR": str(state / "workers"),
        "DEDUPE_LEDGER_PATH": str(state / "ledger.sqlite3"),
        "INDEX_PATH": str(state / "index.sqlite3"),
        "RUN_STATE_KEY_FILE": str(state / "run-state.key"),
        "PAYLOAD_STORE_DIR": str(state / "payloads"),
    }
    worker = WorkerProcess(
        clean_environment(
            {
                "TEMPORAL_ADDRESS": address,
                "TEMPORAL_TASK_QUEUE": task_queue,
                "LLM_PROVIDER": "offline",
                "INDEX_ROOTS": str(CORPUS),
                "APPROVER_KEYS_FILE": str(keys_file),
                "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                **worker_state,
            }
        ),
        REPO,
    )
    try:
        await worker.wait_ready()
        corpus = f"mcp-{uuid.uuid4().hex[:6]}"
        indexed = await api.start_index(
            temporal, IndexInput(directory=str(CORPUS), corpus=corpus), task_queue=task_queue
        )
        result: IndexResult = await asyncio.wait_for(indexed.result(), 120)
        assert result.files_indexed == 3, result
        # The server reads large results from the store the worker writes them to, as the starter does.
        env = {**cli_env(address, task_queue), "PAYLOAD_STORE_DIR": worker_state["PAYLOAD_STORE_DIR"]}
        env = {name: value for name, value in env.items() if not name.startswith("MCP_SERVER_")}
        yield Product(temporal, env, corpus, key)
    finally:
        await worker.stop()


def stdio_client(env: dict[str, str]) -> Client:
    """The official client, launching the server as a desktop client does."""
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "starter", "mcp"], env=env, cwd=REPO
    )
    return Client(parameters, read_timeout_seconds=180)


def http_client(url: str, token: str) -> Client:
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300)
    )
    return Client(streamable_http_client(url, http_client=http), read_timeout_seconds=180)


def payload(result: CallToolResult) -> dict[str, Any]:
    """A successful call's JSON (its text content; the structured content is the same object)."""
    assert not result.is_error, error_text(result)
    data = json.loads(text_of(result))
    assert result.structured_content == data
    return dict(data)


def error_text(result: CallToolResult) -> str:
    return text_of(result)


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent), result.content
    return result.content[0].text


class ProgressSeen:
    """A `progress_callback` that keeps every notification."""

    def __init__(self) -> None:
        self.notes: list[tuple[float, float | None, str | None]] = []
        self.changed = asyncio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.notes.append((progress, total, message))
        self.changed.set()

    @property
    def messages(self) -> list[str]:
        return [message or "" for _, _, message in self.notes]

    async def until(self, text: str, timeout_s: float = 60) -> None:
        async with asyncio.timeout(timeout_s):
            while not any(text in message for message in self.messages):
                self.changed.clear()
                await self.changed.wait()
