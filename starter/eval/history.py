"""A closed run read back from its Temporal history as a `RecordedRun`: the chain of runs from its first
(continue-as-new followed), each completed `llm.complete` activity's request and reply, and the tool
observations the model read (from the later requests' tool results, so a simulated one is seen as
the model saw it). Payloads are decoded by the client's data converter: encrypted payloads and
payloads kept in the payload store read back as the worker wrote them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.converter import DataConverter, WorkflowSerializationContext
from temporalio.service import RPCError

from activities.llm.activity import LLM_ACTIVITY
from common.contracts.evals import RecordedModelCall, RecordedRun, RecordedToolCall
from common.contracts.llm import LLMRequest, LLMResponse, ToolResultBlock
from common.contracts.runs import StepRecord, WorkflowStatus
from common.run_chain import NoSuchRun, read_chain
from starter.api import StarterError
from workflows.kit.eval_mode import SIMULATED

__all__ = ["read_run"]

_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "canceled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
}


@dataclass
class _Chain:
    """What the histories of a run chain hold, in order."""

    workflow_type: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    result: Any = None
    failure: str | None = None
    calls: list[tuple[LLMRequest, LLMResponse]] = field(default_factory=list)


async def read_run(client: Client, workflow_id: str, run_id: str | None = None) -> RecordedRun:
    """The chain that `run_id` (default: the latest run of `workflow_id`) belongs to, from its first
    run. `StarterError` for an unknown id or a run that has not closed."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        description = await handle.describe()
    except RPCError as error:
        raise StarterError(
            f"no run {workflow_id!r}{f' ({run_id})' if run_id else ''}: {error.message}"
        ) from None
    if description.status in (None, WorkflowExecutionStatus.RUNNING):
        raise StarterError(f"{workflow_id}: the run is still running; only closed runs can be evaluated")
    converter = client.data_converter.with_context(
        WorkflowSerializationContext(namespace=client.namespace, workflow_id=workflow_id)
    )
    try:
        runs = await read_chain(client, workflow_id, description.run_id)
    except NoSuchRun as error:
        raise StarterError(str(error)) from None
    chain = _Chain(workflow_type=description.workflow_type)
    for history in runs.histories:
        await _add_run(converter, history, chain)
    outcome, steps = await _outcome_and_steps(client, workflow_id, chain.result)
    return RecordedRun(
        workflow_type=chain.workflow_type,
        workflow_id=workflow_id,
        run_id=runs.first_run_id,
        status=chain.status,
        input=chain.input,
        result=chain.result,
        failure=chain.failure,
        outcome=outcome if chain.status == "completed" else chain.status,
        cost_usd=_cost(chain),
        steps=steps,
        model_calls=_model_calls(chain.calls),
    )


async def _add_run(converter: DataConverter, history: WorkflowHistory, chain: _Chain) -> None:
    """Adds one run's history to `chain`."""
    scheduled: dict[int, tuple[str, Any]] = {}
    for event in history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED and not chain.input:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            values = await converter.decode(list(payloads)) if payloads else []
            chain.input = values[0] if values and isinstance(values[0], dict) else {}
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == LLM_ACTIVITY:
                scheduled[event.event_id] = (LLM_ACTIVITY, attributes.input.payloads)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id in scheduled:
                _, request_payloads = scheduled[completed.scheduled_event_id]
                [request] = await converter.decode(list(request_payloads), [LLMRequest])
                [reply] = await converter.decode(list(completed.result.payloads), [LLMResponse])
                chain.calls.append((request, reply))
        elif kind in _CLOSED:
            await _closed(converter, event, chain)


async def _closed(converter: DataConverter, event: HistoryEvent, chain: _Chain) -> None:
    chain.status = _CLOSED[event.event_type]
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        payloads = event.workflow_execution_completed_event_attributes.result.payloads
        values = await converter.decode(list(payloads)) if payloads else []
        chain.result = values[0] if values else None
    elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        chain.failure = event.workflow_execution_failed_event_attributes.failure.message or "failed"


async def _outcome_and_steps(
    client: Client, workflow_id: str, result: Any
) -> tuple[str | None, list[StepRecord]]:
    """The run's outcome and steps: from its result when it has them, else its `status` query (which
    a worker answers for a closed run too); (None, []) when neither can be had."""
    if isinstance(result, dict) and isinstance(result.get("steps"), list):
        outcome = result.get("outcome")
        return (outcome if isinstance(outcome, str) else None), [
            StepRecord.model_validate(step) for step in result["steps"]
        ]
    try:
        status = await client.get_workflow_handle(workflow_id).query("status", result_type=WorkflowStatus)
    except Exception:  # no worker for its type, a failed query: the history still speaks
        return None, []
    return status.outcome, status.completed_steps


def _cost(chain: _Chain) -> float:
    if isinstance(chain.result, dict) and isinstance(chain.result.get("cost_usd"), int | float):
        return float(chain.result["cost_usd"])
    return sum(reply.cost_usd for _, reply in chain.calls)


def _model_calls(calls: list[tuple[LLMRequest, LLMResponse]]) -> list[RecordedModelCall]:
    """Each call with the tool calls its reply asked for, and the observations later requests show."""
    observations: dict[str, ToolResultBlock] = {}
    for request, _ in calls:
        for message in request.messages:
            for block in message.content:
                if isinstance(block, ToolResultBlock):
                    observations[block.tool_use_id] = block
    recorded: list[RecordedModelCall] = []
    for request, reply in calls:
        tool_calls = []
        for use in reply.tool_calls():
            seen = observations.get(use.id)
            tool_calls.append(
                RecordedToolCall(
                    name=use.name,
                    arguments=use.input,
                    observation=seen.content if seen else None,
                    is_error=seen.is_error if seen else False,
                    simulated=bool(seen and not seen.is_error and seen.content.startswith(SIMULATED)),
                )
            )
        recorded.append(
            RecordedModelCall(
                step=request.step, step_kind=request.step_kind, reply=reply, tool_calls=tool_calls
            )
        )
    return recorded
