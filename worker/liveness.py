"""Liveness heartbeats: while an activity with a heartbeat timeout runs, the worker heartbeats for it.

Why: without a lease that a peer on its machine sees released (worker/inflight.py), Temporal only
learns that a worker died when an activity misses its heartbeat timeout (or, with none, when the
whole start-to-close timeout passes). A heartbeat that proves "this worker process is alive" keeps
that timeout at 10 s instead of minutes, for workers on other machines, and never fires on a live
worker that is merely slow (docs/operations.md, "Crash recovery").
A stalled call inside a live worker is caught by that call's own timeouts (HTTP read timeout, SMTP
timeout) and by start-to-close.

`llm.complete` is progress-gated: its heartbeats must also mean "the stream is moving", because a
heartbeat timeout is how a stalled stream is detected. The ticker heartbeats for it only while its
`StreamProgress` (activities/llm/call_context.py) says so: before the first stream event within the
first-byte window, afterwards while the last event is younger than the stall window. Past the window
the ticker falls silent and the heartbeat timeout fires. One ticker, two meanings kept apart.

Temporal keeps only the last heartbeat's details, so a heartbeat without details erases them. The
ticker repeats the running `llm.complete` attempt's latest details (its usage so far,
`heartbeat_details`); other activities checkpoint nothing in details.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from temporalio import activity
from temporalio.worker import ExecuteActivityInput

from activities.around import AroundActivities
from activities.llm.call_context import StreamWindows, heartbeat_details, watch_progress
from common.settings import Settings

__all__ = ["LivenessHeartbeats", "stream_windows"]

# Beats per heartbeat timeout. The SDK sends at most one heartbeat per throttle interval (worker/app.py,
# HEARTBEAT_SEND_INTERVAL) anyway; ticking more often only makes sure there is always a fresh one.
BEATS_PER_TIMEOUT = 4
# Activities whose heartbeats must mean "my work is progressing", not just "my worker is alive".
PROGRESS_GATED = frozenset({"llm.complete"})
# The Settings defaults (LLM_FIRST_BYTE_TIMEOUT_S, LLM_STALL_TIMEOUT_S), for workers built without them.
DEFAULT_STREAM_WINDOWS = StreamWindows(first_byte_s=60.0, stall_s=30.0)


class LivenessHeartbeats(AroundActivities):
    def __init__(self, stream_windows: StreamWindows = DEFAULT_STREAM_WINDOWS) -> None:
        self._stream_windows = stream_windows
        super().__init__(self._heartbeating)

    @asynccontextmanager
    async def _heartbeating(self, input: ExecuteActivityInput) -> AsyncIterator[None]:
        info = activity.info()
        timeout = info.heartbeat_timeout
        if not timeout or timeout.total_seconds() <= 0 or not inspect.iscoroutinefunction(input.fn):
            yield
            return
        should_beat: Callable[[], bool] = _always
        if info.activity_type in PROGRESS_GATED:
            # Set in this task's context, so the activity (run in this block, same task) feeds it.
            should_beat = watch_progress(self._stream_windows).is_progressing
        ticker = asyncio.create_task(_beat(timeout.total_seconds() / BEATS_PER_TIMEOUT, should_beat))
        try:
            yield
        finally:
            ticker.cancel()


def _always() -> bool:
    return True


async def _beat(interval_s: float, should_beat: Callable[[], bool]) -> None:
    while True:
        await asyncio.sleep(interval_s)
        if should_beat():
            activity.heartbeat(*heartbeat_details())


def stream_windows(settings: Settings) -> StreamWindows:
    return StreamWindows(first_byte_s=settings.llm_first_byte_timeout_s, stall_s=settings.llm_stall_timeout_s)
