"""PAYLOAD_STORE=s3 with worker processes on different hosts (simulated: no folder in common), against
a real S3-compatible server: an agent and a research run complete although the worker running the
agent's model call is SIGKILLed; the other worker reads what the dead one stored, history keeps
references only (linear), and the run replays from a fresh process reading the bucket."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Replayer

from common.converter import build_data_converter, storage_for
from common.payload_s3 import BucketObjectStore
from common.payload_store import scope_workflow_id
from common.settings import Settings
from tests.chaos.processes import WorkerProcess, clean_environment
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Stall
from tests.storage.s3_server import CREDENTIALS
from workflows.models import AgentInput, AgentResult, ResearchInput, ResearchResult
from workflows.registry import WORKFLOWS

pytestmark = pytest.mark.timeout(240)

THRESHOLD = 300
ITERATIONS = 10


def host_env(settings: Settings, address: str, llm: AnthropicServer, host: Path) -> dict[str, str]:
    """One worker host: the shared Temporal, model and bucket; its own state folders."""
    host.mkdir()
    return clean_environment(
        {
            **CREDENTIALS,
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "LLM_PROVIDER": "anthropic",
            "ANTHROPIC_API_KEY": "test",
            "ANTHROPIC_BASE_URL": llm.base_url,
            "PAYLOAD_STORE": "s3",
            "PAYLOAD_STORE_S3_BUCKET": settings.payload_store_s3_bucket or "",
            "PAYLOAD_STORE_S3_PREFIX": settings.payload_store_s3_prefix,
            "AWS_ENDPOINT_URL": settings.aws_endpoint_url or "",
            "PAYLOAD_STORE_THRESHOLD_BYTES": str(THRESHOLD),
            "PAYLOAD_STORE_DIR": str(host / "payloads"),  # unused with s3: proves nothing is shared here
            "DEDUPE_LEDGER_PATH": str(host / "dedupe-ledger.sqlite3"),
            "WORKER_LEASE_DIR": str(host / "workers"),
            "WORKER_GRACEFUL_SHUTDOWN_S": "0",
        }
    )


async def test_runs_survive_a_killed_worker_with_the_store_in_a_bucket(
    dev_client: Client, s3_settings: Settings, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    settings = s3_settings.model_copy(update={"payload_store_threshold_bytes": THRESHOLD})
    address = dev_client.service_client.config.target_host
    client = Client(
        dev_client.service_client,
        namespace=dev_client.namespace,
        data_converter=build_data_converter(settings),
    )
    anthropic_server.script(Stall(after_events=2))  # the agent's first model call hangs mid-stream
    workers = [
        WorkerProcess(host_env(settings, address, anthropic_server, tmp_path / h), tmp_path / h) for h in "ab"
    ]
    try:
        await asyncio.gather(*(worker.wait_ready() for worker in workers))
        agent = await client.start_workflow(
            "AgentWorkflow",
            AgentInput(goal="[loop] keep counting", tools=["calculator"], max_iterations=ITERATIONS),
            id=f"s3-agent-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
            result_type=AgentResult,
        )
        assert await asyncio.to_thread(anthropic_server.wait_until_stalled, 60.0)
        (pending,) = (await agent.describe()).raw_description.pending_activities
        holder_pid = int(pending.last_worker_identity.split("@", 1)[0])
        [holder] = [worker for worker in workers if worker.pid == holder_pid]
        [survivor] = [worker for worker in workers if worker is not holder]
        holder.kill()
        await holder.wait_dead()
        anthropic_server.release()
        research = await client.start_workflow(
            "ResearchWorkflow",
            ResearchInput(topic="kelp forests", max_subtopics=3),
            id=f"s3-research-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
            result_type=ResearchResult,
        )
        agent_result, research_result = await asyncio.gather(agent.result(), research.result())
        assert survivor.is_ready
    finally:
        anthropic_server.release()
        for worker in workers:
            await worker.stop()

    assert agent_result.iterations == ITERATIONS and agent_result.outcome == "max_iterations"
    assert research_result.report
    history = await agent.fetch_history()
    requests = [
        event.activity_task_scheduled_event_attributes.input.payloads[0]
        for event in history.events
        if event.activity_task_scheduled_event_attributes.activity_type.name == "llm.complete"
    ]
    assert len(requests) == ITERATIONS
    # Linear history: every request but the first (goal + tools) is a reference of constant size.
    assert all(p.external_payloads for p in requests[1:])
    assert max(p.ByteSize() for p in requests[1:]) < 600

    store = BucketObjectStore(
        settings.payload_store_s3_bucket or "",
        settings.payload_store_s3_prefix,
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
    )
    fresh = dataclasses.replace(client.data_converter, external_storage=storage_for(store, THRESHOLD))
    for handle in (agent, research):
        await Replayer(workflows=WORKFLOWS, data_converter=fresh).replay_workflow(
            await handle.fetch_history()
        )
    assert {agent.id, research.id} <= {scope_workflow_id(scope) for scope in await store.scopes()}
    await store.aclose()
