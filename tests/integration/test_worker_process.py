"""End to end: a real `python -m worker` process against the dev server."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from starter import api
from tests.conftest import TEMPORAL_CLI
from workflows.models import ResearchInput


@pytest.fixture
def worker_process(dev_server_env: WorkflowEnvironment, task_queue: str) -> Iterator[subprocess.Popen[str]]:
    target = dev_server_env.client.service_client.config.target_host
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": target,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "LLM_PROVIDER": "offline",
        "WORKER_GRACEFUL_SHUTDOWN_S": "5",
    }
    process = subprocess.Popen([sys.executable, "-m", "worker"], env=env, stderr=subprocess.PIPE, text=True)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


async def test_research_through_worker_process_then_graceful_stop(
    dev_client: Client, worker_process: subprocess.Popen[str], task_queue: str
) -> None:
    handle = await api.start_research(
        dev_client, ResearchInput(topic="lighthouses", max_subtopics=2), task_queue=task_queue
    )
    result = await handle.result()
    assert len(result.subtopics) == 2 and "[offline model]" in result.report

    worker_process.send_signal(signal.SIGTERM)
    _, stderr = worker_process.communicate(timeout=30)
    assert worker_process.returncode == 0, stderr
    assert "registered workflows: AgentWorkflow, ResearchWorkflow" in stderr
    assert "stopped" in stderr


def test_worker_exits_nonzero_when_temporal_is_unreachable(tmp_path) -> None:
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1", "TEMPORAL_CONNECT_TIMEOUT_S": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "127.0.0.1:1" in result.stderr and "unreachable" in result.stderr


async def test_worker_refuses_a_namespace_without_the_search_attributes(tmp_path) -> None:
    """Workflows upsert the project's search attributes; on a server without them every workflow
    task would fail and retry forever, so the worker says what to register and exits."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(TEMPORAL_CLI), ui=False)
    async with env:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "worker"],
            env={
                **os.environ,
                "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                "LLM_PROVIDER": "offline",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1, result.stderr
    assert "lacks the search attributes AiPhase, AiCostUsd" in result.stderr
    assert "temporal operator search-attribute create --name AiPhase --type Keyword" in result.stderr
