"""End to end across processes: a real `python -m worker` and a starter process, both configured only
by OTEL_* variables, export over OTLP/HTTP to a local receiver; the run is one trace spanning both
services. The worker's Prometheus endpoint serves Temporal's SDK metrics, and the product's metrics
arrive over OTLP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.fakes.otlp_receiver import OtlpHttpReceiver, ReceivedMetric, ReceivedSpan

STARTER_SERVICE = "e2e-starter"
WORKER_SERVICE = "ai-workflows-worker"  # the worker's own default service name

# What a service does with the importable starter API; configured only by the environment.
STARTER_SCRIPT = textwrap.dedent(
    """
    import asyncio
    from common.client import connect
    from common.settings import load_settings
    from starter import api
    from workflows.models import ResearchInput

    async def main():
        settings = load_settings()
        client = await connect(settings)
        handle = await api.start_research(
            client, ResearchInput(topic="tidal energy", max_subtopics=2), task_queue=settings.temporal_task_queue
        )
        await handle.result()
        print(handle.id)

    asyncio.run(main())
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as running:
        yield running


@pytest.fixture
def otel_env(
    dev_server_env: WorkflowEnvironment, task_queue: str, receiver: OtlpHttpReceiver
) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "METRICS_", "LLM_"))}
    return {
        **inherited,
        "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "LLM_PROVIDER": "offline",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # export batches promptly instead of every 5 s
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
    }


def _chain_to_root(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[str]:
    by_id = {s.span_id: s for s in spans}
    names = [span.name]
    while span.parent_span_id:
        span = by_id[span.parent_span_id]
        names.append(span.name)
    return names


async def test_run_is_one_trace_across_starter_and_worker_processes(
    otel_env: dict[str, str], receiver: OtlpHttpReceiver
) -> None:
    prometheus = f"127.0.0.1:{_free_port()}"
    worker = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once; nothing here blocks on it
        [sys.executable, "-m", "worker"],
        env={**otel_env, "METRICS_PROMETHEUS_BIND": prometheus, "WORKER_GRACEFUL_SHUTDOWN_S": "5"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        starter = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", STARTER_SCRIPT],
            # The same METRICS_PROMETHEUS_BIND as the worker (one shell, one .env): only the worker binds it.
            env={**otel_env, "METRICS_PROMETHEUS_BIND": prometheus, "OTEL_SERVICE_NAME": STARTER_SERVICE},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert starter.returncode == 0, starter.stderr
        workflow_id = starter.stdout.strip()

        def complete(spans: list[ReceivedSpan]) -> bool:
            names = {(s.service, s.name) for s in spans}
            return {
                (STARTER_SERVICE, "StartWorkflow:ResearchWorkflow"),
                (WORKER_SERVICE, "RunWorkflow:ResearchWorkflow"),
            } <= names and sum(s.name == "chat offline-model" for s in spans) >= 4

        spans = await asyncio.to_thread(receiver.wait_for_spans, complete, 60)

        # Temporal's SDK metrics on the worker's Prometheus endpoint.
        with urllib.request.urlopen(f"http://{prometheus}/metrics", timeout=10) as response:  # noqa: ASYNC210
            scraped = response.read().decode()
        assert "temporal_workflow_completed" in scraped
        assert "temporal_activity_execution_latency" in scraped

        # The product's metrics over OTLP from the worker.
        def tokens_arrived(received: list[ReceivedMetric]) -> bool:
            return any(
                m.name == "gen_ai.client.token.usage" and m.service == WORKER_SERVICE for m in received
            )

        await asyncio.to_thread(receiver.wait_for_metrics, tokens_arrived, 30)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(worker.communicate, timeout=30)
    assert worker.returncode == 0, stderr
    assert "Failed to export" not in stderr and "Traceback" not in stderr, stderr

    (root,) = [
        s for s in spans if s.name == "StartWorkflow:ResearchWorkflow" and s.service == STARTER_SERVICE
    ]
    assert root.parent_span_id == "" and root.attributes["temporalWorkflowID"] == workflow_id
    run_spans = [s for s in spans if s.trace_id == root.trace_id]
    chats = [s for s in run_spans if s.name == "chat offline-model"]
    assert len(chats) == 4  # plan, 2 research steps, synthesize
    for chat in chats:
        assert chat.service == WORKER_SERVICE
        assert _chain_to_root(chat, run_spans) == [
            "chat offline-model",
            "RunActivity:llm.complete",
            "StartActivity:llm.complete",
            "RunWorkflow:ResearchWorkflow",
            "StartWorkflow:ResearchWorkflow",
        ]
        assert chat.attributes["gen_ai.provider.name"] == "offline"
        assert chat.attributes["gen_ai.usage.output_tokens"] > 0
        assert chat.attributes["ai_workflows.cost_usd"] > 0
    assert {s.attributes.get("ai_workflows.step") for s in chats} == {
        "plan",
        "research 1",
        "research 2",
        "synthesize",
    }
