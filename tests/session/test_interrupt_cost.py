"""An interrupt cancels the model call in flight, and what that call used is still counted: the real
Anthropic SDK against the suite's Messages-API server, whose stream stalls after its first events
(`message_start` carries the input tokens), on a worker built as `python -m worker` builds one, on the dev server (the time-skipping server
records a cancellation without waiting for the activity's own report)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import Client

from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Reply, Stall
from worker.app import build_worker
from workflows.kit import (
    SendRequest,
    SessionInput,
    SessionResult,
    TranscriptPage,
    TranscriptQuery,
    WorkflowStatus,
)
from workflows.session import SessionWorkflow

pytestmark = pytest.mark.timeout(90)


async def test_an_interrupted_calls_tokens_count_in_the_cost(
    dev_client: Client, anthropic_server: AnthropicServer, anthropic_settings: Settings
) -> None:
    anthropic_server.script(Stall(after_events=2), step="turn 1 step 1")
    anthropic_server.script(Reply.text("stopped", stop_reason="end_turn"), step="turn 2 step 1")
    queue = anthropic_settings.temporal_task_queue
    try:
        async with build_worker(dev_client, anthropic_settings):
            started = await dev_client.start_workflow(
                SessionWorkflow.run, SessionInput(), id=f"session-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
            handle = dev_client.get_workflow_handle(started.id, result_type=SessionResult)
            await handle.execute_update("send", SendRequest(text="write a long essay"))
            assert await asyncio.to_thread(anthropic_server.wait_until_stalled, 30)
            await handle.execute_update("send", SendRequest(text="stop", mode="interrupt"))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while True:
                page = await handle.query("transcript", TranscriptQuery(), result_type=TranscriptPage)
                if any(e.turn_outcome == "answered" for e in page.entries):
                    break
                assert loop.time() < deadline, page.model_dump_json()[:500]
                await asyncio.sleep(0.05)
            status = await handle.query("status", result_type=WorkflowStatus)
            await handle.execute_update("close", {})
            result = await handle.result()
    finally:
        anthropic_server.release()
    [cancelled] = [s for s in status.completed_steps if s.step == "turn 1 step 1"]
    assert not cancelled.ok and cancelled.input_tokens > 0 and cancelled.cost_usd > 0
    assert result.cost_usd >= cancelled.cost_usd and result.last_reply == "stopped"
