"""The worker is SIGKILLed after retrieval, while generation is in flight: a replacement worker
finishes the run, the retrieval is not repeated (one attempt in history) and the answer arrives."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.answer.history import activity_attempts
from tests.answer.support import ANSWER_SOURCE, CORPUS, QUESTION
from tests.chaos.processes import ReplaceableWorker
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Stall
from tests.recovery.test_resume_after_kill import worker_env
from workflows.answer import AnswerInput, AnswerWorkflow
from workflows.index import IndexInput, IndexWorkflow

pytestmark = pytest.mark.timeout(180)


async def test_a_kill_between_retrieval_and_generation_resumes_without_retrieving_again(
    dev_server_env: WorkflowEnvironment, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    client = dev_server_env.client
    task_queue = f"answer-kill-{uuid.uuid4().hex[:8]}"
    env = worker_env(dev_server_env, anthropic_server, task_queue, tmp_path)
    env["INDEX_PATH"] = str(tmp_path / "index.sqlite3")
    env["INDEX_ROOTS"] = str(CORPUS)
    # The generation step streams two events and hangs: retrieval is done, generation in flight.
    anthropic_server.script(Stall(after_events=2), step="generate")
    async with ReplaceableWorker(env, tmp_path, release=anthropic_server.release) as worker:
        await client.execute_workflow(
            IndexWorkflow.run,
            IndexInput(directory=str(CORPUS)),
            id=f"index-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        handle = await client.start_workflow(
            AnswerWorkflow.run,
            AnswerInput(question=QUESTION),
            id=f"answer-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        assert await asyncio.to_thread(anthropic_server.wait_until_stalled, 60.0)
        scheduled, _ = await activity_attempts(handle)
        assert scheduled["retrieval.retrieve"] == 1 and scheduled["llm.complete"] == 1
        await worker.kill()
        worker.replace()
        result = await handle.result()

    assert result.outcome == "grounded"
    assert {c.source for c in result.citations} == {ANSWER_SOURCE}
    scheduled, started = await activity_attempts(handle)
    assert (scheduled["retrieval.retrieve"], started["retrieval.retrieve"]) == (1, 1)  # not repeated
    assert (scheduled["llm.complete"], started["llm.complete"]) == (1, 2)  # the killed attempt, a retry
    assert len(anthropic_server.requests_for("generate")) == 2
