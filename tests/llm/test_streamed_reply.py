"""Streamed replies (`LLMRequest.stream_reply`): the real `llm.complete` activity, run by a worker on
the dev server, publishes the reply's text on the run's Workflow Stream (topic `reply`) while the
model writes it; a subscriber gets the whole text in order, from the offline model, the Anthropic
provider and the OpenAI-compatible one, a retried attempt again under its own number; and the
history grows with batches (one Signal each), not with deltas."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.workflow_streams import WorkflowStreamClient

with workflow.unsafe.imports_passed_through():
    from activities.llm.providers.base import reporting_text
    from activities.llm.providers.offline import MAX_CHUNKS, MIN_CHUNKS, OfflineProvider, text_chunks
    from activities.llm.providers.scripted import SCRIPTED_LABEL, ScriptedProvider
    from activities.llm.reply_stream import ReplyPublisher
    from bench.stream import StreamedReplyWorkflow  # one streamed model call on a stream-hosting run
    from common.contracts.llm import REPLY_TOPIC, LLMRequest, LLMResponse, Message, ReplyChunk
    from common.llm_script import parse_script
    from common.settings import Settings
    from tests.fakes.anthropic_server import AnthropicServer
    from tests.fakes.openai_server import OpenAIServer
    from tests.fakes.scripted_server import Reply, Truncate
    from worker.app import build_worker

PUBLISH_SIGNAL = "__temporal_workflow_stream_publish"
# About 1,000 tokens (4 characters each), streamed by the fakes 16 characters a delta: 250 deltas.
LONG_REPLY = " ".join(f"word{i:03d}" for i in range(500))[:4000]


async def streamed_call(
    client: Client, settings: Settings, text: str = "Say hello"
) -> tuple[LLMResponse, list[ReplyChunk], WorkflowHandle[StreamedReplyWorkflow, LLMResponse]]:
    """One streamed call; every chunk a subscriber saw, from the start of the run to its end."""
    request = LLMRequest(messages=[Message.user_text(text)], step="reply 1", stream_reply=True)
    async with build_worker(client, settings, workflows=[StreamedReplyWorkflow]):
        handle = await client.start_workflow(
            StreamedReplyWorkflow.run,
            request,
            id=f"streamed-reply-{uuid.uuid4().hex[:10]}",
            task_queue=settings.temporal_task_queue,
        )
        stream = WorkflowStreamClient.create(client, handle.id)
        # The subscription ends once the run is closed and its last items are drained.
        chunks = [item.data async for item in stream.subscribe(REPLY_TOPIC, result_type=ReplyChunk)]
        response = await handle.result()
    return response, chunks, handle


def final_text(chunks: list[ReplyChunk], step: str = "reply 1") -> str:
    """What a client shows: the last attempt's chunks of `step`, each attempt numbered from 0."""
    attempts: dict[int, list[ReplyChunk]] = defaultdict(list)
    for chunk in chunks:
        if chunk.step == step:
            attempts[chunk.attempt].append(chunk)
    last = attempts[max(attempts)]
    assert [chunk.seq for chunk in last] == list(range(len(last))), "chunks out of order"
    return "".join(chunk.text for chunk in last)


async def publish_signals(handle: WorkflowHandle[StreamedReplyWorkflow, LLMResponse]) -> int:
    history = await handle.fetch_history()
    return sum(
        event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and event.workflow_execution_signaled_event_attributes.signal_name == PUBLISH_SIGNAL
        for event in history.events
    )


# -- chunking ------------------------------------------------------------------------------------------


def test_offline_chunks_join_to_the_text_and_split_between_words() -> None:
    for text in ("one", "two words", "  leading and trailing  ", LONG_REPLY, "a\nb\n\nc d e f"):
        pieces = text_chunks(text)
        assert "".join(pieces) == text
        assert all(piece.strip() for piece in pieces)  # no piece is whitespace only
        assert all(piece[-1].isspace() for piece in pieces[:-1])  # split after whitespace
    assert text_chunks("") == []
    assert len(text_chunks("two words")) == 2  # fewer than three only when there are fewer words
    assert MIN_CHUNKS <= len(text_chunks("a b c d e f g h")) <= MAX_CHUNKS
    assert len(text_chunks(LONG_REPLY)) == MAX_CHUNKS


async def test_offline_model_streams_a_few_chunks_only_when_listened_to() -> None:
    request = LLMRequest(messages=[Message.user_text("Tell me about " + LONG_REPLY[:300])])
    seen: list[str] = []
    with reporting_text(seen.append):
        reply = await OfflineProvider().complete(request, "offline-model", lambda: None)
    text = "".join(b.text for b in reply.content if hasattr(b, "text"))
    assert "".join(seen) == text and MIN_CHUNKS <= len(seen) <= MAX_CHUNKS
    # Unlistened (every call without stream_reply): the same reply.
    assert await OfflineProvider().complete(request, "offline-model", lambda: None) == reply


async def test_scripted_model_streams_what_its_reply_says() -> None:
    provider = ScriptedProvider(
        parse_script([{"match": {"contains": "hi"}, "reply": {"text": "hello there"}}])
    )
    for text, expected in (("hi", "hello there"), ("other words", None)):
        seen: list[str] = []
        with reporting_text(seen.append):
            reply = await provider.complete(LLMRequest(messages=[Message.user_text(text)]), "m", lambda: None)
        streamed = "".join(seen)
        assert streamed == "".join(b.text for b in reply.content if hasattr(b, "text"))
        assert streamed == expected if expected else streamed.startswith(SCRIPTED_LABEL)


# -- through the activity ------------------------------------------------------------------------------


async def test_offline_reply_reaches_a_subscriber_whole(dev_client: Client, settings: Settings) -> None:
    response, chunks, _ = await streamed_call(dev_client, settings, "Streaming, " + LONG_REPLY[:200])
    assert chunks and final_text(chunks) == response.text()
    assert {chunk.attempt for chunk in chunks} == {1}


async def test_anthropic_reply_streams_in_batches_not_deltas(
    dev_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.event_interval_s = 0.01  # 250 deltas over about 2.5 s, as a fast model writes
    anthropic_server.script(Reply.text(LONG_REPLY))
    response, chunks, handle = await streamed_call(dev_client, anthropic_settings)
    assert response.text() == LONG_REPLY
    assert final_text(chunks) == LONG_REPLY
    deltas = len(LONG_REPLY) // 16
    signals = await publish_signals(handle)
    assert len(chunks) == signals  # one chunk per batch, one Signal per batch
    assert 5 <= signals <= deltas // 5, f"{signals} Signals for {deltas} deltas"


async def test_openai_reply_reaches_a_subscriber_whole(
    dev_client: Client, openai_settings: Settings, openai_server: OpenAIServer
) -> None:
    openai_server.event_interval_s = 0.005
    openai_server.script(Reply.text(LONG_REPLY))
    response, chunks, handle = await streamed_call(dev_client, openai_settings)
    assert response.text() == LONG_REPLY == final_text(chunks)
    assert await publish_signals(handle) < len(LONG_REPLY) // 16 // 5


async def test_a_retried_attempt_streams_again_under_its_number(
    dev_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    # The first attempt's stream dies after a few deltas; the second streams the whole reply.
    anthropic_server.script(Truncate(after_events=8, reply=Reply.text(LONG_REPLY)), Reply.text(LONG_REPLY))
    response, chunks, _ = await streamed_call(dev_client, anthropic_settings)
    first = "".join(chunk.text for chunk in chunks if chunk.attempt == 1)
    assert first and LONG_REPLY.startswith(first) and first != LONG_REPLY
    assert [chunk.attempt for chunk in chunks] == sorted(chunk.attempt for chunk in chunks)
    assert response.text() == final_text(chunks) == LONG_REPLY


async def test_a_request_without_stream_reply_publishes_nothing(
    dev_client: Client, settings: Settings
) -> None:
    request = LLMRequest(messages=[Message.user_text("quiet")], step="reply 1")
    async with build_worker(dev_client, settings, workflows=[StreamedReplyWorkflow]):
        handle = await dev_client.start_workflow(
            StreamedReplyWorkflow.run,
            request,
            id=f"unstreamed-reply-{uuid.uuid4().hex[:10]}",
            task_queue=settings.temporal_task_queue,
        )
        await handle.result()
    assert await publish_signals(handle) == 0


async def test_a_publishing_failure_is_logged_not_raised(
    dev_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # No such run: every Signal is refused (NOT_FOUND), as for a run that closed meanwhile.
    stream = WorkflowStreamClient.create(dev_client, f"no-such-run-{uuid.uuid4().hex[:8]}")
    with caplog.at_level(logging.WARNING, logger="activities.llm.reply_stream"):
        async with ReplyPublisher("reply 1", attempt=1, stream=stream) as publisher:
            for piece in ("one ", "two ", "three"):
                publisher.add(piece)
    assert publisher.published_text == "one two three"  # handed over; the failure was only logged
    warnings = [r for r in caplog.records if "publishing the streamed reply failed" in r.getMessage()]
    assert len(warnings) == 1  # once per call, not once per batch


async def test_a_publisher_that_failed_does_not_leave_the_end_to_the_run(
    dev_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # Which batches reached the run is unknown after a failure: the activity keeps publishing it all
    # (the stream client's retry is deduplicated) instead of handing the run an offset it cannot trust.
    stream = WorkflowStreamClient.create(dev_client, f"no-such-run-{uuid.uuid4().hex[:8]}")
    loop = asyncio.get_running_loop()
    with caplog.at_level(logging.WARNING, logger="activities.llm.reply_stream"):
        async with ReplyPublisher("reply 1", attempt=1, stream=stream, leave_end_to_run=True) as publisher:
            publisher.add("one ")
            deadline = loop.time() + 10
            while not any("publishing the streamed reply failed" in r.getMessage() for r in caplog.records):
                assert loop.time() < deadline, "the first text's Signal was never refused"
                await asyncio.sleep(0.01)
            publisher.add("two")
    assert publisher.unpublished("one two") is None and publisher.published_text == "one two"


class HangingStream:
    """A stream whose Signals never return (a server that stopped answering)."""

    def __init__(self) -> None:
        self.published: list[ReplyChunk] = []

    def topic(self, name: str, *, type: object) -> HangingStream:
        return self

    def publish(self, chunk: ReplyChunk) -> None:
        self.published.append(chunk)

    async def flush(self) -> None:
        await asyncio.Event().wait()


async def test_a_batch_that_never_arrives_holds_the_call_no_longer_than_the_final_flush_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("activities.llm.reply_stream.FINAL_FLUSH_TIMEOUT_S", 0.3)
    stream = HangingStream()
    loop = asyncio.get_running_loop()
    async with ReplyPublisher("reply 1", attempt=1, stream=stream, leave_end_to_run=True) as publisher:  # type: ignore[arg-type]
        publisher.add("one ")
        deadline = loop.time() + 5
        while not stream.published:  # the first text's Signal is on its way, and stays so
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        publisher.add("two")
        began = loop.time()
    assert loop.time() - began < 2  # bounded, not the Signal's fate
    # Whether "one " arrived is unknown: the run is not handed an offset (the activity keeps it all).
    assert publisher.unpublished("one two") is None
