"""What a crash test reads back from Temporal: every run of a workflow id (continue-as-new chains
included) and, per run, which LLM steps completed when."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from bench.histories import event_time  # one reader of histories for bench and tests

LLM_ACTIVITY = "llm.complete"


@dataclass(frozen=True)
class CompletedStep:
    step: str  # the `x-ai-workflows-step` header value: `<workflow id>/<step>`
    completed_at: float  # Unix time of ActivityTaskCompleted


async def completed_llm_steps(history: WorkflowHistory, converter: DataConverter) -> list[CompletedStep]:
    """The converter decodes the requests: a big one sits in the external payload store, and history
    holds only its reference."""
    scheduled: dict[int, str] = {}
    steps: list[CompletedStep] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == LLM_ACTIVITY:
                [request] = await converter.decode(attributes.input.payloads, [dict])
                scheduled[event.event_id] = f"{history.workflow_id}/{request['step']}"
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            step = scheduled.get(event.activity_task_completed_event_attributes.scheduled_event_id)
            if step is not None:
                steps.append(CompletedStep(step, event_time(event)))
    return steps


def times_of(history: WorkflowHistory, event_type: EventType.ValueType) -> list[float]:
    return [event_time(event) for event in history.events if event.event_type == event_type]


def workflow_task_failures(history: WorkflowHistory) -> list[str]:
    return [
        event.workflow_task_failed_event_attributes.failure.message
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


def workflow_task_spans(history: WorkflowHistory) -> list[tuple[float, float]]:
    """(first scheduled, completed) of each workflow task, across its timeouts and retries: how long
    the run waited for a worker to take its next step."""
    spans: list[tuple[float, float]] = []
    scheduled_at: float | None = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED and scheduled_at is None:
            scheduled_at = event_time(event)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and scheduled_at is not None:
            spans.append((scheduled_at, event_time(event)))
            scheduled_at = None
    return spans
