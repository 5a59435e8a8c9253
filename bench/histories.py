"""What the figures read back from Temporal: a run's histories (continue-as-new chain), their
serialized size, and how long each workflow task took on the worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import Client, WorkflowHistory

_StartedId = Callable[[HistoryEvent], int]


def event_time(event: HistoryEvent) -> float:
    """Server time as a Unix timestamp (the same clock as `time.time()` on this machine)."""
    return event.event_time.ToMicroseconds() / 1e6


async def run_chain(client: Client, workflow_id: str, first_run_id: str | None) -> list[WorkflowHistory]:
    histories: list[WorkflowHistory] = []
    run_id = first_run_id
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return histories
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


def history_bytes(history: WorkflowHistory) -> int:
    """The history as Temporal stores and limits it: serialized protobuf events."""
    return History(events=history.events).ByteSize()


def _started_to_completed(
    history: WorkflowHistory,
    started: EventType.ValueType,
    completed: EventType.ValueType,
    started_id: _StartedId,
) -> list[float]:
    """Seconds from each `started` event to the `completed` event that names it (`started_id`)."""
    began: dict[int, float] = {}
    seconds: list[float] = []
    for event in history.events:
        if event.event_type == started:
            began[event.event_id] = event_time(event)
        elif event.event_type == completed and (begin := began.get(started_id(event))) is not None:
            seconds.append(event_time(event) - begin)
    return seconds


def workflow_task_seconds(history: WorkflowHistory) -> list[float]:
    """WorkflowTaskStarted -> WorkflowTaskCompleted, per task: the worker's time on each task."""
    return _started_to_completed(
        history,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        lambda event: event.workflow_task_completed_event_attributes.started_event_id,
    )


def retried_activities(history: WorkflowHistory) -> int:
    """Activities whose recorded attempt was not their first (the history keeps the last attempt's
    ActivityTaskStarted): on a worker that never died, each one is a false heartbeat timeout or a
    retried failure."""
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.attempt > 1
    )


def activity_completions(history: WorkflowHistory, activity_type: str) -> list[float]:
    """Times at which activities of `activity_type` completed."""
    scheduled: set[int] = set()
    times: list[float] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == activity_type:
                scheduled.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            if event.activity_task_completed_event_attributes.scheduled_event_id in scheduled:
                times.append(event_time(event))
    return times


def sticky_misses(history: WorkflowHistory) -> int:
    """Workflow tasks that waited on a worker's sticky queue past WORKER_STICKY_QUEUE_TIMEOUT_S and
    went to the shared queue: each one evicts the run from that worker's cache and the next worker
    replays its whole history."""
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
        and event.workflow_task_timed_out_event_attributes.timeout_type
        == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
    )


def attempt_seconds(history: WorkflowHistory) -> list[float]:
    """ActivityTaskStarted -> its completion, per activity (the last attempt): how long a worker held
    it. For the bench's short activities, the longest is the worst stall a live worker showed, which
    the heartbeat timeout must outlast."""
    return _started_to_completed(
        history,
        EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
        lambda event: event.activity_task_completed_event_attributes.started_event_id,
    )


@dataclass
class Counts:
    """What a figure's runs did besides their work, from their histories (summed over runs)."""

    runs: int = 0
    activities: int = 0
    retried: int = 0  # activities with an attempt > 1 (on a worker that never died: a false timeout)
    sticky_misses: int = 0
    slowest_attempt_s: float = 0.0
    slowest_workflow_task_s: float = 0.0
    workflow_tasks_lost: int = 0  # timed out while started (the worker's completion came too late)

    def add(self, histories: list[WorkflowHistory]) -> None:
        self.runs += 1
        for history in histories:
            self.activities += sum(
                1 for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            )
            self.retried += retried_activities(history)
            self.sticky_misses += sticky_misses(history)
            self.slowest_attempt_s = max([self.slowest_attempt_s, *attempt_seconds(history)])
            self.slowest_workflow_task_s = max(
                [self.slowest_workflow_task_s, *workflow_task_seconds(history)]
            )
            self.workflow_tasks_lost += sum(
                1
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
                and e.workflow_task_timed_out_event_attributes.timeout_type
                == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
            )
