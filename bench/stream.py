"""The streamed-reply figures (`python -m bench --only stream`): a 1,000-token reply written by a paced
model (250 deltas of 4 tokens), published on the run's Workflow Stream while it is written, and read
by a subscriber that is waiting for it, as a chat client is.

- product: the real `llm.complete` activity with `stream_reply=True` (activities/llm/reply_stream.py:
  the first text at once, then one joined `ReplyChunk` per 100 ms batch);
- baseline: the same deltas published straight through the SDK's `WorkflowStreamClient` (one item per
  delta, its batching at the same interval), from a bare activity.

Figures: the time from the model's first token to the subscriber (the issue's target: 300 ms
median), every delta's time to the subscriber, and the history events of one reply (its Signals:
one per batch)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.workflow_streams import WorkflowStream, WorkflowStreamClient
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.llm.activity import LLMActivities
    from activities.llm.pricing import PriceTable
    from activities.llm.providers.base import Heartbeat, report_text
    from activities.llm.reply_stream import BATCH_INTERVAL
    from bench.figures import Figure, Sizes, in_turn
    from bench.harness import Bench
    from bench.workers import bench_settings
    from common.contracts.llm import (
        REPLY_TOPIC,
        LLMRequest,
        LLMResponse,
        Message,
        ProviderReply,
        ReplyChunk,
        TextBlock,
        Usage,
    )
    from worker.app import build_worker
    from workflows.activity_options import LLM_CALL

__all__ = ["figures"]

PRODUCT_QUEUE = "bench-stream-product"
BASELINE_QUEUE = "bench-stream-baseline"
DELTAS = 250  # 4 tokens (16 characters) each: a 1,000-token reply
DELTA_CHARS = 16
REPLY = "".join(f"token{i:04d} words " for i in range(DELTAS))[: DELTAS * DELTA_CHARS]
PUBLISH_SIGNAL = "__temporal_workflow_stream_publish"


@dataclass
class Timings:
    """When each delta was written, per workflow id (both sides' models run in this process)."""

    written: dict[str, list[float]] = field(default_factory=dict)


TIMINGS = Timings()


async def write_reply(delta_interval_s: float, on_delta: Callable[[str], None], heartbeat: Heartbeat) -> None:
    """The reply, a delta at a time, as a model at 4 tokens per `delta_interval_s` writes it."""
    written = TIMINGS.written.setdefault(activity.info().workflow_id or "", [])
    for index in range(DELTAS):
        if index:
            await asyncio.sleep(delta_interval_s)  # the model's pace, not synchronisation
        written.append(time.perf_counter())
        on_delta(REPLY[index * DELTA_CHARS : (index + 1) * DELTA_CHARS])
        heartbeat()


class PacedModel:
    """A provider that streams `REPLY` at a model's pace (through `report_text`, as the real ones)."""

    name = "bench-stream"
    default_model = "bench-stream-model"

    def __init__(self, delta_interval_s: float) -> None:
        self.delta_interval_s = delta_interval_s

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        await write_reply(self.delta_interval_s, report_text, heartbeat)
        return ProviderReply(
            content=[TextBlock(text=REPLY)],
            stop_reason="end_turn",
            usage=Usage(input_tokens=10, output_tokens=DELTAS * 4),
            model=model,
        )


@workflow.defn(name="BenchStreamedReply")
class StreamedReplyWorkflow:
    """One streamed model call on a run hosting a Workflow Stream (as every kit run does)."""

    @workflow.init
    def __init__(self, request: LLMRequest) -> None:
        self._stream = WorkflowStream()

    @workflow.run
    async def run(self, request: LLMRequest) -> LLMResponse:
        response = await workflow.execute_activity_method(
            LLMActivities.complete, request, **LLM_CALL.kwargs()
        )
        self._stream.detach_pollers()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return response


class BaselineStreamer:
    def __init__(self, delta_interval_s: float) -> None:
        self.delta_interval_s = delta_interval_s

    @activity.defn(name="bench.baseline_stream_reply")
    async def stream_reply(self, _: str) -> str:
        """The deltas straight through the SDK's publisher: one item per delta, its own batching."""
        stream = WorkflowStreamClient.from_within_activity(batch_interval=BATCH_INTERVAL)
        topic = stream.topic(REPLY_TOPIC, type=str)
        async with stream:
            await write_reply(self.delta_interval_s, topic.publish, activity.heartbeat)
        return REPLY


@workflow.defn(name="BenchBaselineStreamedReply")
class BaselineStreamedReplyWorkflow:
    @workflow.init
    def __init__(self, _: str) -> None:
        self._stream = WorkflowStream()

    @workflow.run
    async def run(self, _: str) -> str:
        reply: str = await workflow.execute_activity(
            "bench.baseline_stream_reply", "", **LLM_CALL.kwargs(), result_type=str
        )
        self._stream.detach_pollers()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return reply


@asynccontextmanager
async def stream_workers(bench: Bench, delta_interval_s: float) -> AsyncIterator[None]:
    settings = bench_settings(bench.address, bench.state_dir, temporal_task_queue=PRODUCT_QUEUE)
    llm = LLMActivities(PacedModel(delta_interval_s), PriceTable.load(None))
    baseline = Worker(
        bench.baseline,
        task_queue=BASELINE_QUEUE,
        workflows=[BaselineStreamedReplyWorkflow],
        activities=[BaselineStreamer(delta_interval_s).stream_reply],
    )
    async with (
        build_worker(
            bench.product,
            settings,
            task_queue=PRODUCT_QUEUE,
            activities=[llm.complete],
            workflows=[StreamedReplyWorkflow],
        ),
        baseline,
    ):
        yield


@dataclass
class Watched:
    first_token_ms: float
    delta_ms: list[float]
    events: int
    signals: int


async def watched_reply(client: Client, product: bool) -> Watched:
    """One reply, subscribed to from its start: the subscriber's view and the run's history."""
    workflow_id = f"bench-stream-{uuid.uuid4().hex[:10]}"
    request = LLMRequest(messages=[Message.user_text("write")], step="reply", stream_reply=True)
    handle: WorkflowHandle[Any, Any] = await client.start_workflow(
        "BenchStreamedReply" if product else "BenchBaselineStreamedReply",
        request if product else "",
        id=workflow_id,
        task_queue=PRODUCT_QUEUE if product else BASELINE_QUEUE,
    )
    received: list[tuple[float, int]] = []  # (when, characters of the reply received so far)
    text = ""
    async for item in WorkflowStreamClient.create(client, workflow_id).subscribe(REPLY_TOPIC):
        piece = ReplyChunk.model_validate(item.data).text if product else str(item.data)
        text += piece
        received.append((time.perf_counter(), len(text)))
    await handle.result()
    if text != REPLY:
        raise RuntimeError(f"the subscriber got {len(text)} of {len(REPLY)} characters, or other text")
    written = TIMINGS.written.pop(workflow_id)
    delta_ms: list[float] = []
    position = 0
    for index, when in enumerate(written):
        end = (index + 1) * DELTA_CHARS
        while received[position][1] < end:
            position += 1
        delta_ms.append((received[position][0] - when) * 1000)
    history = await handle.fetch_history()
    signals = sum(
        event.workflow_execution_signaled_event_attributes.signal_name == PUBLISH_SIGNAL
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
    )
    return Watched(delta_ms[0], delta_ms, len(history.events), signals)


async def figures(bench: Bench, sizes: Sizes) -> list[Figure]:
    delta_interval_s = sizes.stream_delta_s
    reps = sizes.reps * 3
    results: dict[str, list[Watched]] = {"product": [], "baseline": []}
    async with stream_workers(bench, delta_interval_s):
        for rep in range(reps + 1):  # the first repetition warms both sides up, unrecorded
            for is_product in in_turn(rep):
                client = bench.product if is_product else bench.baseline
                watched = await watched_reply(client, is_product)
                if rep:
                    results["product" if is_product else "baseline"].append(watched)
    product, baseline = results["product"], results["baseline"]
    pace = f"{4 / delta_interval_s:.0f} tokens/s"
    notes = [
        f"publish Signals per reply: product {median(w.signals for w in product):.0f}, baseline "
        f"{median(w.signals for w in baseline):.0f}, for {DELTAS} deltas at {pace}; batch interval "
        f"{BATCH_INTERVAL.total_seconds() * 1000:.0f} ms"
    ]
    return [
        Figure(
            "stream_first_token",
            f"streamed reply: the model's first token to the subscriber ({pace})",
            "ms",
            [w.first_token_ms for w in product],
            [w.first_token_ms for w in baseline],
            "value<=",
            300.0,
            notes=notes,
        ),
        Figure(
            "stream_delta_latency",
            "streamed reply: each delta to the subscriber, median of a reply's 250",
            "ms",
            [median(w.delta_ms) for w in product],
            [median(w.delta_ms) for w in baseline],
            "info",
        ),
        Figure(
            "stream_history_events",
            f"streamed reply: history events per 1,000-token reply, watched ({pace})",
            "events",
            [float(w.events) for w in product],
            [float(w.events) for w in baseline],
            "info",
            digits=0,
        ),
    ]
