"""Liveness heartbeats: while an activity with a heartbeat timeout runs, the worker heartbeats for it.

Not for `llm.complete`: its providers heartbeat on every stream event, so there the heartbeat
timeout also detects a stalled stream, which a ticker would hide.

Why: Temporal only learns that a worker died when an activity misses its heartbeat timeout (or, with
none, when the whole start-to-close timeout passes). A heartbeat that proves "this worker process is
alive" lets the timeout be a few seconds, so a crashed worker's in-flight LLM calls, tools and
deliveries are retried on another worker within seconds (docs/operations.md, "Crash recovery").
The activity's own heartbeats (an LLM stream heartbeats on every event) still count; a stalled call
inside a live worker is caught by that call's own timeouts (HTTP read timeout, SMTP timeout) and by
start-to-close, not by the heartbeat.

Activities that checkpoint progress in heartbeat *details* must not rely on this ticker: it
heartbeats without details. None of this project's activities do.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

# Beats per heartbeat timeout. The SDK sends at most one heartbeat per 0.8 timeouts anyway; ticking
# more often only makes sure there is always a fresh one to send.
BEATS_PER_TIMEOUT = 4
# Activities whose heartbeats mean "my work is progressing", not just "my worker is alive".
SELF_HEARTBEATING = frozenset({"llm.complete"})


class LivenessHeartbeats(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _HeartbeatWhileRunning(next)


class _HeartbeatWhileRunning(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        timeout = info.heartbeat_timeout
        if (
            not timeout
            or timeout.total_seconds() <= 0
            or info.activity_type in SELF_HEARTBEATING
            or not inspect.iscoroutinefunction(input.fn)
        ):
            return await self.next.execute_activity(input)
        ticker = asyncio.create_task(_beat(timeout.total_seconds() / BEATS_PER_TIMEOUT))
        try:
            return await self.next.execute_activity(input)
        finally:
            ticker.cancel()


async def _beat(interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        activity.heartbeat()
