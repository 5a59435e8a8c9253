"""What a rejected run must look like: failed (not stuck in workflow-task retries), quickly, with one
typed, non-retryable, one-line error."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError


@dataclass(frozen=True)
class Rejection:
    type: str
    message: str
    seconds: float  # from the run's start to its failure, server time


async def rejection_of(handle: WorkflowHandle) -> Rejection:
    try:
        await handle.result()
    except WorkflowFailureError as failure:
        error = failure.cause
    else:
        raise AssertionError(f"{handle.id} completed; it should have failed")
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.FAILED
    history = await handle.fetch_history()
    task_failures = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert task_failures == [], "a bad input must fail the run, not its workflow tasks"
    assert isinstance(error, ApplicationError), error
    assert error.non_retryable and "\n" not in error.message, error
    assert error.type is not None
    started, closed = history.events[0].event_time, history.events[-1].event_time
    seconds = (closed.ToMicroseconds() - started.ToMicroseconds()) / 1e6
    return Rejection(error.type, error.message, seconds)
