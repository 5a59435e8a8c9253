"""A workflow whose one activity runs longer than its heartbeat timeout and never heartbeats itself:
only the worker's liveness heartbeats keep it alive."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from workflows.activity_options import TOOL_CALL

HEARTBEAT_S = 0.5
WORK_S = 1.5  # three heartbeat timeouts


@activity.defn(name="probe.slow_work")
async def slow_work() -> str:
    await asyncio.sleep(WORK_S)  # stands for work that has nothing to report (an SMTP conversation)
    return "done"


@workflow.defn(name="LivenessProbe", sandboxed=False)
class LivenessProbe:
    @workflow.run
    async def run(self) -> str:
        result: str = await workflow.execute_activity(
            slow_work,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=HEARTBEAT_S),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return result


STALL_S = 2.5  # a saturated worker's event loop, blocked (more than the old 1 s heartbeat timeout)


@activity.defn(name="probe.stalls_the_loop")
async def stalls_the_loop() -> int:
    time.sleep(STALL_S)  # noqa: ASYNC251 - blocks the loop that sends heartbeats, as a GIL-bound burst does
    return activity.info().attempt


@workflow.defn(name="StalledLoopProbe", sandboxed=False)
class StalledLoopProbe:
    """An activity with the product's own options (TOOL_CALL) on a worker whose loop stalls."""

    @workflow.run
    async def run(self) -> int:
        attempt: int = await workflow.execute_activity(stalls_the_loop, **TOOL_CALL.kwargs())
        return attempt
