"""A workflow whose one activity runs longer than its heartbeat timeout and never heartbeats itself:
only the worker's liveness heartbeats keep it alive."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

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
