"""A model reply's text on the run's Workflow Stream while the model writes it (`LLMRequest.stream_reply`).

The provider's text deltas are joined into one `ReplyChunk` per batch interval, so the run's history
grows by one Signal per batch, not per token, and the stream's log (which the run keeps, and carries
over continue-as-new) by one item per batch. The first text of an attempt, and the first after a
quiet spell, goes out at once: the time from the model's first token to a chat client is one Signal
and one workflow task, not a batch interval. Publishing is best effort: a failure is logged and the
model call goes on; a reply whose publishing failed is still returned whole.

A run on the kit publishes the reply's end itself (`leave_end_to_run`, from the request's
`run_publishes_reply_end`): when the model is done, a batch already on its way is let finish, and
what was not sent yet goes back in the result (`unpublished`) instead of in a last Signal that the
call would wait for. A zero-latency reply that comes in one piece is then no Signal at all, and the
turn no extra workflow task; the run publishes the end before it records the step, so a client never
sees the step end before its text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from types import TracebackType
from typing import Self

from temporalio import activity
from temporalio.contrib.workflow_streams import TopicHandle, WorkflowStreamClient

from common.contracts.llm import REPLY_TOPIC, ReplyChunk, UnpublishedReply

__all__ = ["BATCH_INTERVAL", "FINAL_FLUSH_TIMEOUT_S", "ReplyPublisher"]

log = logging.getLogger(__name__)

# At most one batch per interval after the first text (which goes at once). Measured (bench `stream`,
# a 1,000-token reply at 100 tokens/s): 250 ms gives each delta to a subscriber in 143 ms median and
# 381 history events; 100 ms, 126 ms and 838 events (docs/benchmarks.md).
BATCH_INTERVAL = timedelta(milliseconds=250)
# The call returns only after its text reached the run (a client sees it before the step's end),
# but never waits longer than this for an unreachable server.
FINAL_FLUSH_TIMEOUT_S = 5.0


class ReplyPublisher:
    """The text of one attempt of one model call, published on topic `reply` of the activity's
    workflow. `add` is the provider's text sink (synchronous, never blocks); leaving the `async with`
    publishes what is left and waits (a bounded time) until the run has it, or, with
    `leave_end_to_run`, leaves it to the run (`unpublished`)."""

    def __init__(
        self,
        step: str,
        *,
        attempt: int | None = None,
        batch_interval: timedelta = BATCH_INTERVAL,
        stream: WorkflowStreamClient | None = None,
        leave_end_to_run: bool = False,
    ) -> None:
        self._step = step
        self._attempt = attempt if attempt is not None else activity.info().attempt
        self._interval = batch_interval.total_seconds()
        self._stream = stream
        self._topic: TopicHandle[ReplyChunk] | None = None
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._seq = 0
        self._sender: asyncio.Task[None] | None = None
        self._failed = False
        self._sending = asyncio.Lock()  # held while a batch is on its way to the run
        self.leaves_end_to_run = leave_end_to_run
        self._left_to_run = False  # set on a clean exit in that mode: the rest is the run's to publish
        self.published_text = ""  # what was handed to the stream (a test and the fallback read it)

    @property
    def reported(self) -> bool:
        """Whether the provider reported any text (else the activity publishes the whole reply)."""
        return bool(self.published_text or self._pending)

    def unpublished(self, text: str) -> UnpublishedReply | None:
        """What of the reply's whole `text` the run is to publish (None: nothing, or it was sent)."""
        if not self._left_to_run or len(text) <= len(self.published_text):
            return None
        return UnpublishedReply(offset=len(self.published_text), seq=self._seq, attempt=self._attempt)

    def add(self, text: str) -> None:
        if text and self._topic is not None:
            self._pending.append(text)
            self._wake.set()

    async def __aenter__(self) -> Self:
        try:
            if self._stream is None:
                self._stream = WorkflowStreamClient.from_within_activity(batch_interval=BATCH_INTERVAL)
            self._topic = self._stream.topic(REPLY_TOPIC, type=ReplyChunk)
        except Exception as error:  # a standalone activity has no workflow: the call goes on unstreamed
            log.warning("step %r: reply not streamed: %s", self._step, error)
            return self
        self._sender = asyncio.create_task(self._send_batches())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sender is None:
            return
        deadline = time.monotonic() + FINAL_FLUSH_TIMEOUT_S
        try:
            # A batch on its way finishes first (it reaches the run before the result), within the bound.
            await asyncio.wait_for(self._sending.acquire(), FINAL_FLUSH_TIMEOUT_S)
        except TimeoutError as error:
            self._warn(error)  # which batches arrived is unknown: the activity publishes the rest
        else:
            self._sending.release()
        self._sender.cancel()
        try:
            await self._sender
        except asyncio.CancelledError:
            pass
        if self.leaves_end_to_run and exc_type is None and not self._failed:
            # Every batch sent was confirmed: the rest goes back in the result, for the run to publish.
            self._pending.clear()
            self._left_to_run = True
            return
        try:
            await asyncio.wait_for(self._send_pending(), max(0.0, deadline - time.monotonic()))
        except Exception as error:  # TimeoutError included: the reply is returned all the same
            self._warn(error)

    async def _send_batches(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            started = time.monotonic()
            async with self._sending:
                try:
                    await self._send_pending()
                except Exception as error:  # kept pending by the stream client: the next flush retries it
                    self._warn(error)
            # The next batch gathers meanwhile: one batch per interval, or per send if sends are slower.
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))

    async def _send_pending(self) -> None:
        assert self._stream is not None and self._topic is not None
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            chunk = ReplyChunk(step=self._step, text=text, seq=self._seq, attempt=self._attempt)
            self._seq += 1
            self.published_text += text
            self._topic.publish(chunk)
        await self._stream.flush()

    def _warn(self, error: BaseException) -> None:
        if not self._failed:  # once per call: a broken stream must not flood the log
            self._failed = True
            log.warning("step %r: publishing the streamed reply failed: %r", self._step, error)
