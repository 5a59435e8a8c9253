"""A model or tool call made while no worker serves its queue waits for one, however long, instead of
timing out: LLM_CALL and TOOL_CALL are bounded by their attempts, not by a schedule-to-close
timeout, so the server schedules the call with no deadline before a worker takes it (and keeps one
timer fewer per call)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflow.outage_probe import ECHO, OutageCall, OutageProbe
from workflows.activity_options import LLM_CALL, TOOL_CALL, ActivityOptions

pytestmark = pytest.mark.timeout(60)


@activity.defn(name=ECHO)
async def echo(text: str) -> str:
    return text


@pytest.mark.parametrize("options", ["tool", "llm"])
async def test_a_call_is_scheduled_with_no_deadline_before_a_worker_takes_it(
    kit_env: WorkflowEnvironment, options: str
) -> None:
    client = kit_env.client
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[OutageProbe], activities=[echo]):
        handle = await client.start_workflow(
            OutageProbe.run,
            OutageCall(options=options, task_queue=queue),
            id=f"outage-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        assert await handle.result() == "answered"
    (scheduled,) = [
        event.activity_task_scheduled_event_attributes
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    # None set: the dev server records 0, the time-skipping server ten years.
    for deadline in (scheduled.schedule_to_close_timeout, scheduled.schedule_to_start_timeout):
        assert deadline.ToTimedelta() in (timedelta(0), timedelta(days=3650))
    assert scheduled.start_to_close_timeout.ToTimedelta() > timedelta(0)
    assert scheduled.retry_policy.maximum_attempts == (5 if options == "tool" else 8)


def test_options_without_schedule_to_close_need_bounded_attempts() -> None:
    assert LLM_CALL.schedule_to_close is None and TOOL_CALL.schedule_to_close is None
    with pytest.raises(ValueError, match="maximum_attempts"):
        ActivityOptions(
            start_to_close=timedelta(seconds=1),
            schedule_to_close=None,
            heartbeat=None,
            retry=RetryPolicy(maximum_attempts=0),
        )
