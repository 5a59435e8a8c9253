"""A worker SIGKILLed mid-index (the second of three batches is embedding its file): a replacement
worker resumes the run at that batch; the first batch is not repeated, and the index ends complete."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.answer.history import activity_attempts
from tests.answer.support import copy_corpus
from tests.chaos.processes import ReplaceableWorker, clean_environment
from tests.index.embeddings_server import EmbeddingsServer
from workflows.index import IndexInput, IndexResult, IndexWorkflow

pytestmark = pytest.mark.timeout(180)


async def test_a_crash_mid_index_resumes_at_the_batch_that_was_running(
    dev_server_env: WorkflowEnvironment, embeddings_server: EmbeddingsServer, tmp_path: Path
) -> None:
    client = dev_server_env.client
    task_queue = f"index-kill-{uuid.uuid4().hex[:8]}"
    corpus = copy_corpus(tmp_path / "corpus")
    env = clean_environment(
        {
            "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "LLM_PROVIDER": "offline",
            "PAYLOAD_STORE": "off",
            "INDEX_PATH": str(tmp_path / "index.sqlite3"),
            "INDEX_ROOTS": str(corpus),
            "EMBEDDINGS_BASE_URL": embeddings_server.base_url,
            "WORKER_GRACEFUL_SHUTDOWN_S": "0",
        }
    )
    embeddings_server.stall_request(2)  # batch 2 of 3 (one file each) hangs while embedding
    async with ReplaceableWorker(env, tmp_path, release=embeddings_server.release) as worker:
        handle: WorkflowHandle[IndexWorkflow, IndexResult] = await client.start_workflow(
            IndexWorkflow.run,
            IndexInput(directory=str(corpus), batch_size=1),
            id=f"index-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        assert await asyncio.to_thread(embeddings_server.stalled.wait, 60.0)
        await worker.kill()
        worker.replace()
        result = await handle.result()

    assert (result.files_indexed, result.batches) == (3, 3)
    assert result.embedded == result.passages
    scheduled, started = await activity_attempts(handle)
    assert scheduled["retrieval.scan"] == started["retrieval.scan"] == 1
    assert scheduled["retrieval.index_batch"] == 3
    assert started["retrieval.index_batch"] == 4  # batch 2 twice (killed, retried); 1 and 3 once
    # Requests: batch 1, batch 2 (killed), batch 2 again, batch 3.
    assert len(embeddings_server.inputs) == 4
    assert embeddings_server.inputs[1] == embeddings_server.inputs[2]
    assert [s.step for s in result.steps] == ["scan", "index batch 1/3", "index batch 2/3", "index batch 3/3"]
