"""Live progress of a run, as a stream of events, until the run ends.

Two sources, same events:
- the run's Workflow Stream (`temporalio.contrib.workflow_streams`), when the workflow hosts one: it
  publishes each phase on topic `phase` (a str) and each finished step on topic `steps` (a
  `StepRecord`); with `replies=True`, also the text of model replies while they are written, for
  requests with `stream_reply` (topic `reply`, a `ReplyChunk`). Events arrive as they happen (long-poll Update), nothing is missed or repeated, and
  the subscription follows continue-as-new and drains the last events after the run closes.
- otherwise the `status` query, polled: works with any run that answers `status` (e.g. runs started
  before their workflow had a stream), at the cost of a poll interval of latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.contrib.workflow_streams import WorkflowStreamClient
from temporalio.service import RPCError

from common.contracts.llm import ReplyChunk
from starter import api
from workflows.models import PendingApproval, StepRecord, WorkflowStatus
from workflows.stream_topics import PHASE_TOPIC, REPLY_TOPIC, STEPS_TOPIC, STREAM_OFFSET_QUERY

__all__ = ["PhaseChanged", "ProgressEvent", "ReplyStreamed", "RunEnded", "StepCompleted", "watch"]

AWAITING_APPROVAL = "awaiting_approval"


class PhaseChanged(BaseModel):
    """The run's phase changed (with what it waits for, when it waits for a decision)."""

    kind: Literal["phase"] = "phase"
    phase: str
    pending_approval: PendingApproval | None = None


class StepCompleted(BaseModel):
    """A step finished, as `status.completed_steps` lists it."""

    step: StepRecord
    kind: Literal["step"] = "step"


class ReplyStreamed(BaseModel):
    """A piece of a model reply, as it is written (`watch(..., replies=True)`)."""

    chunk: ReplyChunk
    kind: Literal["reply"] = "reply"


class RunEnded(BaseModel):
    """The run closed; the watch ends."""

    kind: Literal["ended"] = "ended"
    status: str  # the execution status: COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT


ProgressEvent = PhaseChanged | StepCompleted | ReplyStreamed | RunEnded


async def watch(
    client: Client, workflow_id: str, *, poll_interval_s: float = 1.0, replies: bool = False
) -> AsyncIterator[ProgressEvent]:
    """Progress events of the run until it ends; the last event is always `RunEnded`. `replies`:
    also `ReplyStreamed` events, from a run that streams its model replies (none from a run watched
    through the `status` query). Raises `api.StarterError` for an unknown workflow id."""
    _, status = await api.describe_run(client, workflow_id)
    if status == WorkflowExecutionStatus.RUNNING and await _has_stream(client, workflow_id):
        source = _from_stream(client, workflow_id, replies)
    else:
        source = _from_status_query(client, workflow_id, poll_interval_s)
    async for event in source:
        yield event


async def _has_stream(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).query(STREAM_OFFSET_QUERY, result_type=int)
    except WorkflowQueryFailedError:  # the workflow has no such query: no stream
        return False
    return True


async def _from_stream(client: Client, workflow_id: str, replies: bool) -> AsyncIterator[ProgressEvent]:
    stream = WorkflowStreamClient.create(client, workflow_id)
    topics = [PHASE_TOPIC, STEPS_TOPIC, *([REPLY_TOPIC] if replies else [])]
    async for item in stream.subscribe(topics):
        if item.topic == REPLY_TOPIC:
            yield ReplyStreamed(chunk=ReplyChunk.model_validate(item.data))
        elif item.topic == STEPS_TOPIC:
            yield StepCompleted(step=StepRecord.model_validate(item.data))
        elif item.topic == PHASE_TOPIC:
            phase = str(item.data)
            pending = await _pending_approval(client, workflow_id) if phase == AWAITING_APPROVAL else None
            yield PhaseChanged(phase=phase, pending_approval=pending)
    # The subscription ends only once the run is closed (it follows continue-as-new).
    _, status = await api.describe_run(client, workflow_id)
    yield RunEnded(status=_status_name(status))


async def _pending_approval(client: Client, workflow_id: str) -> PendingApproval | None:
    """What waits for a decision (the stream carries the phase; `status` has the details)."""
    try:
        return (await api.get_status(client, workflow_id)).pending_approval
    except api.StarterError:
        return None


async def _from_status_query(
    client: Client, workflow_id: str, poll_interval_s: float
) -> AsyncIterator[ProgressEvent]:
    seen_steps: set[tuple[str, str]] = set()
    last: tuple[str, str | None] | None = None
    while True:
        # Describe before the query: a run seen closed here has all its steps in the query below.
        _, status = await api.describe_run(client, workflow_id)
        closed = status != WorkflowExecutionStatus.RUNNING
        snapshot = await _status_or_none(client, workflow_id, quiet=closed)
        if snapshot is not None:
            # Steps first: the ones finished since the last poll happened before the current phase.
            for step in snapshot.completed_steps:
                if (step.step, step.kind) not in seen_steps:
                    seen_steps.add((step.step, step.kind))
                    yield StepCompleted(step=step)
            pending = snapshot.pending_approval
            current = (snapshot.phase, pending.action_hash if pending else None)
            if current != last:
                last = current
                yield PhaseChanged(phase=snapshot.phase, pending_approval=pending)
        if closed:
            yield RunEnded(status=_status_name(status))
            return
        await asyncio.sleep(poll_interval_s)  # a poll interval, not synchronisation: progress display


async def _status_or_none(client: Client, workflow_id: str, *, quiet: bool) -> WorkflowStatus | None:
    """The status; for a closed run whose query cannot be answered (no worker), None."""
    try:
        return await api.get_status(client, workflow_id)
    except (api.StarterError, RPCError):
        if quiet:
            return None
        raise


def _status_name(status: WorkflowExecutionStatus | None) -> str:
    return status.name if status is not None else "UNKNOWN"
