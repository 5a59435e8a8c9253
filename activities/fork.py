"""`fork.recorded_steps`: what a forked run reuses — the source run's steps before the fork point,
each with the result its activity recorded, read by the worker from Temporal (never from a client:
a fork's input only names the source run).

The steps and their numbering are the source's `status` (its `completed_steps`, carried across
continue-as-new, as `starter status` shows them); the results are the source chain's history:
every run from the first, followed through continue-as-new, decoded with the worker's data
converter (codec and payload store included). A step is joined to the activity that made it by
name: an LLM request carries its step, a tool step names its tool (matched in completion order),
a delivery is the run's one `delivery.deliver`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from activities.fork_messages import Sent, UnplaceableMessage, sent_messages, session_messages
from activities.fork_replay import replay_steps
from activities.llm.activity import LLM_ACTIVITY
from common.contracts.runs import ApprovalRecord, ForkFrom, StepRecord
from common.contracts.sessions import SendRequest
from common.encryption import PayloadDecryptionError
from common.payload_store import PayloadStoreError
from common.run_chain import NoSuchRun, read_chain

__all__ = [
    "FORK_SOURCE_INVALID",
    "FORK_SOURCE_UNREADABLE",
    "ForkActivities",
    "RecordedStep",
    "RecordedSteps",
    "SourceRun",
    "read_source",
    "tool_of_step",
]

FORK_SOURCE_INVALID = "ForkSourceInvalid"  # not retryable: the same source never becomes valid
FORK_SOURCE_UNREADABLE = "ForkSourceUnreadable"  # retried: the payload store was out of reach
DELIVERY_ACTIVITY = "delivery.deliver"
MCP_CALL_ACTIVITY = "mcp.call_tool"
TOOL_ACTIVITY_PREFIX = "tool."
_DONE = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "completed",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "failed",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "timed out",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "cancelled",
}


class RecordedStep(BaseModel):
    """One step of the source before the fork point: its record, and what its activity returned
    (`result`, JSON) or why it failed (`failure`); neither for a step no activity made (an approval,
    a tool call refused before it ran)."""

    number: int  # as `status` numbers it, from 1
    record: StepRecord
    activity: str | None = None
    result: Any = None
    failure: str | None = None
    decision: ApprovalRecord | None = None  # an approval step's recorded decision
    # Where its activity's result is in the source's history (its run, the event).
    run_id: str | None = None
    event_id: int | None = None


class RecordedSteps(BaseModel):
    """The source's steps 1..fork_from.step-1 and what it was (type, how many steps it had)."""

    workflow_type: str
    total_steps: int
    steps: list[RecordedStep] = Field(default_factory=list)
    # A session's messages (`send`) of its turns up to the one holding the fork point: a forked
    # session takes them as queued (activities/fork_messages.py).
    messages: list[SendRequest] = Field(default_factory=list)


def tool_of_step(step: str) -> str:
    """The tool a tool step names: `tool 3.1 lookup_customer` and `tool 2 send_email` end with it."""
    return step.split(" ", 2)[-1]


@dataclass
class _Call:
    activity: str
    step: str | None  # an LLM request's step; a tool call's tool name; "deliver"
    outcome: str
    run_id: str
    event_id: int
    result: Any = None
    failure: str | None = None
    taken: bool = field(default=False)


@dataclass
class SourceRun:
    """A fork's source as Temporal recorded it: every run's history, first to last, and its steps."""

    histories: list[WorkflowHistory]
    steps: RecordedSteps


class ForkActivities:
    """`fork.recorded_steps`, replaying sources with the worker's own workflows."""

    def __init__(self, workflows: Sequence[type], passthrough: Sequence[str] = ()) -> None:
        self._workflows = list(workflows)
        self._passthrough = list(passthrough)

    @activity.defn(name="fork.recorded_steps")
    async def recorded_steps(self, source: ForkFrom) -> RecordedSteps:
        """The source run chain's steps before `source.step`, with their recorded results. A source
        that does not exist, a step beyond its steps, or one this worker's code no longer makes is a
        non-retryable `ForkSourceInvalid`."""
        read = await read_source(activity.client(), source, self._workflows, self._passthrough)
        return read.steps


async def read_source(
    client: Client, source: ForkFrom, workflows: Sequence[type], passthrough: Sequence[str] = ()
) -> SourceRun:
    """The source run chain and its steps before `source.step` (the activity's work; `starter fork`
    checks a fork with it before starting one). The steps are numbered by replaying the source
    with `workflows`: this code must make the source's history at least up to the fork point."""
    try:
        histories = (await read_chain(client, source.workflow_id, source.run_id)).histories
    except NoSuchRun as error:
        raise _invalid(f"{error} to fork") from None
    first = histories[0].events[0].workflow_execution_started_event_attributes
    workflow_type = first.workflow_type.name
    # Decoded before the replay: a payload this worker cannot read would fail the replay with an
    # opaque failure that reads as a code change.
    calls, sent = await _readable(histories, client.data_converter)
    replayed = await replay_steps(histories, workflows, client.data_converter, passthrough)
    steps = replayed.steps
    if replayed.failure is not None and len(steps) < source.step - 1:
        raise _invalid(
            f"the workflow code no longer matches the source's history before step {source.step}: "
            f"{replayed.failure}"
        )
    if source.step > len(steps) + 1:
        raise _invalid(f"step {source.step} is beyond the source's {len(steps)} steps")
    recorded = [
        _joined(number, record, calls, replayed.decisions)
        for number, record in enumerate(steps[: source.step - 1], start=1)
    ]
    try:
        messages = session_messages(sent, steps, source.step)
    except UnplaceableMessage as error:
        raise _invalid(str(error)) from None
    return SourceRun(
        histories,
        RecordedSteps(workflow_type=workflow_type, total_steps=len(steps), steps=recorded, messages=messages),
    )


async def _readable(
    histories: list[WorkflowHistory], converter: DataConverter
) -> tuple[list[_Call], list[Sent]]:
    """The chain's step activities and a session's messages, decoded, and its input decoded too. A
    payload encrypted with a key this worker does not hold is a non-retryable `ForkSourceInvalid` (a
    fork is asked for now; it can be asked again once the key is deployed); one the payload store
    cannot give is retried (the store may be out of reach for a while) with the same one-line reason."""
    try:
        started = histories[0].events[0].workflow_execution_started_event_attributes
        if started.input.payloads:
            await converter.decode(list(started.input.payloads))
        calls = [call for history in histories for call in await _calls(history, converter)]
        return calls, await sent_messages(histories, converter)
    except PayloadDecryptionError as error:
        raise _invalid(
            f"the source's history cannot be read by this worker: PayloadDecryptionError: {error}"
        ) from None
    except PayloadStoreError as error:
        raise ApplicationError(
            f"fork: the source's history cannot be read by this worker: PayloadStoreError: {error}",
            type=FORK_SOURCE_UNREADABLE,
        ) from None


async def _calls(history: WorkflowHistory, converter: DataConverter) -> list[_Call]:
    """The run's activity calls in the order they ended, decoded."""
    scheduled: dict[int, tuple[str, Payloads]] = {}
    calls: list[_Call] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = (attributes.activity_type.name, attributes.input)
        elif event.event_type in _DONE:
            scheduled_id = _scheduled_id(event)
            if scheduled_id not in scheduled:
                continue
            name, inputs = scheduled[scheduled_id]
            step = await _step_of(name, inputs, converter)
            if step is None:
                continue  # not a step's activity (seals, approval rules, discovery)
            call = _Call(name, step, _DONE[event.event_type], history.run_id, event.event_id)
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                payloads = event.activity_task_completed_event_attributes.result.payloads
                call.result = (await converter.decode(list(payloads)))[0] if payloads else None
            else:
                call.failure = await _failure_text(event, converter)
            calls.append(call)
    return calls


def _scheduled_id(event: HistoryEvent) -> int:
    for attributes in (
        event.activity_task_completed_event_attributes,
        event.activity_task_failed_event_attributes,
        event.activity_task_timed_out_event_attributes,
        event.activity_task_canceled_event_attributes,
    ):
        if attributes.scheduled_event_id:
            return attributes.scheduled_event_id
    return 0


async def _step_of(name: str, inputs: Payloads, converter: DataConverter) -> str | None:
    if name == DELIVERY_ACTIVITY:
        return "deliver"
    if name.startswith(TOOL_ACTIVITY_PREFIX):
        return name.removeprefix(TOOL_ACTIVITY_PREFIX)
    if name not in (LLM_ACTIVITY, MCP_CALL_ACTIVITY) or not inputs.payloads:
        return None
    request = (await converter.decode([inputs.payloads[0]]))[0]
    key = "step" if name == LLM_ACTIVITY else "name"
    value = request.get(key) if isinstance(request, dict) else None
    return str(value) if value else None


async def _failure_text(event: HistoryEvent, converter: DataConverter) -> str:
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        failure = event.activity_task_failed_event_attributes.failure
        error = await converter.decode_failure(failure)  # the activity's own error, as the run saw it
        return str(getattr(error, "message", None) or error)[:500]
    return _DONE[event.event_type]


def _joined(
    number: int, record: StepRecord, calls: list[_Call], decisions: list[ApprovalRecord]
) -> RecordedStep:
    """`record` with the activity call that made it, if one did."""
    step = RecordedStep(number=number, record=record)
    if record.kind == "approval" and record.step.startswith("approval "):
        index = int(record.step.removeprefix("approval ")) - 1
        step.decision = decisions[index] if 0 <= index < len(decisions) else None
        return step
    call = _match(record, calls)
    if call is not None:
        call.taken = True
        step.activity, step.result, step.failure = call.activity, call.result, call.failure
        step.run_id, step.event_id = call.run_id, call.event_id
    return step


def _match(record: StepRecord, calls: list[_Call]) -> _Call | None:
    untaken = [call for call in calls if not call.taken]
    if record.kind == "llm":
        return next(
            (call for call in untaken if call.activity == LLM_ACTIVITY and call.step == record.step), None
        )
    if record.kind == "delivery":
        return next((call for call in untaken if call.activity == DELIVERY_ACTIVITY), None)
    if record.kind != "tool":
        return None
    tool = tool_of_step(record.step)
    for call in untaken:
        if call.activity in (LLM_ACTIVITY, DELIVERY_ACTIVITY) or call.step != tool:
            continue
        if record.ok or _same_error(record.detail, tool, call):
            return call
        return None  # refused before it ran (no activity): the step's own record says why
    return None


def _same_error(detail: str, tool: str, call: _Call) -> bool:
    """Whether a failed tool step's detail is what this call returned or raised (the step records an
    error observation's first 300 characters)."""
    if call.failure is not None:
        return detail == f"{tool} failed: {call.failure}"[:300]
    content = call.result.get("content", "") if isinstance(call.result, dict) else ""
    return bool(call.result and call.result.get("is_error")) and detail == str(content)[:300]


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(f"fork: {message}", type=FORK_SOURCE_INVALID, non_retryable=True)
