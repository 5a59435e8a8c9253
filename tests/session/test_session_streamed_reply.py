"""A session's streamed reply on the dev server, through a worker built as `python -m worker` builds
one: a subscriber reads the reply's whole text on topic `reply` before the turn's `turn_ended` event,
whether the model streamed it (the activity sends what it can while the model writes; the run
publishes the rest from the result) or answered in one piece (the run publishes it all: no publish
Signal, no extra workflow task in the turn), and a worker that replays the run from its history
rebuilds the same stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.workflow_streams import WorkflowStreamClient

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.base import Heartbeat
from common.contracts.llm import REPLY_TOPIC, LLMRequest, ProviderReply, ReplyChunk, TextBlock, Usage
from common.settings import Settings
from workflows.kit import TURNS_TOPIC, SendRequest, SessionInput, TurnEvent
from workflows.kit.pytest_plugin import run_kit_worker
from workflows.kit.testing import ScriptedModel
from workflows.session import SessionWorkflow

pytestmark = pytest.mark.timeout(90)

PUBLISH_SIGNAL = "__temporal_workflow_stream_publish"
# Long enough for the scripted model to stream it in several paced chunks (offline.text_chunks).
REPLY = " ".join(f"word{i:02d}" for i in range(60))


class OnePieceModel:
    """A provider that never reports text while it writes: the whole reply comes with the result."""

    name = "one-piece"
    default_model = "claude-haiku-4-5"

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        return ProviderReply(
            content=[TextBlock(text=REPLY)],
            stop_reason="end_turn",
            usage=Usage(input_tokens=10, output_tokens=40),
            model=model,
        )


class OnePiece:
    activity = LLMActivities(OnePieceModel(), PriceTable.load()).complete


def streaming() -> Any:
    return ScriptedModel([{"reply": {"text": REPLY}}])


def one_piece() -> Any:
    return OnePiece()


async def turn_as_streamed(
    client: Client, handle: WorkflowHandle[Any, Any]
) -> tuple[list[ReplyChunk], list[str]]:
    """The reply chunks and the turn events a subscriber from the run's start reads, in stream order,
    until the first turn ends."""
    stream = WorkflowStreamClient.create(client, handle.id)
    chunks: list[ReplyChunk] = []
    order: list[str] = []
    async for item in stream.subscribe([TURNS_TOPIC, REPLY_TOPIC]):
        if item.topic == REPLY_TOPIC:
            chunks.append(ReplyChunk.model_validate(item.data))
            order.append("reply")
        else:
            event = TurnEvent.model_validate(item.data)
            order.append(event.kind)
            if event.kind == "turn_ended":
                return chunks, order
    raise AssertionError("the stream ended before the turn did")


def text_of(chunks: list[ReplyChunk]) -> str:
    last = max(chunk.attempt for chunk in chunks)
    mine = [chunk for chunk in chunks if chunk.attempt == last]
    assert [chunk.seq for chunk in mine] == list(range(len(mine))), "chunks out of order"
    return "".join(chunk.text for chunk in mine)


async def publish_signals(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(
        event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and event.workflow_execution_signaled_event_attributes.signal_name == PUBLISH_SIGNAL
        for event in history.events
    )


@pytest.mark.parametrize("model", [streaming, one_piece], ids=["streamed", "one-piece"])
async def test_the_whole_reply_is_on_the_stream_before_the_turn_ends(
    dev_client: Client, settings: Settings, tmp_path: Path, model: Callable[[], Any]
) -> None:
    async with run_kit_worker(dev_client, settings, workflows=[SessionWorkflow], model=model()):
        handle = await dev_client.start_workflow(
            SessionWorkflow.run,
            SessionInput(),
            id=f"session-streamed-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
        )
        read = asyncio.create_task(turn_as_streamed(dev_client, handle))
        await handle.execute_update("send", SendRequest(text="talk to me"))
        chunks, order = await asyncio.wait_for(read, 60)
        await handle.execute_update("close", {"reason": "done"})
        await handle.result()
    assert text_of(chunks) == REPLY
    assert order.index("turn_ended") > max(i for i, kind in enumerate(order) if kind == "reply")
    signals = await publish_signals(handle)
    if model is one_piece:
        assert signals == 0 and len(chunks) == 1  # the run published it, from the result
    else:
        # The first text went at once, batches while the model wrote; the last one is the run's.
        assert 1 <= signals == len(chunks) - 1

    # A worker with nothing cached replays the closed run from its history: the same stream.
    async with run_kit_worker(dev_client, settings, workflows=[SessionWorkflow], model=model()):
        replayed, _ = await turn_as_streamed(dev_client, handle)
    assert replayed == chunks
