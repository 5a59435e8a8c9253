"""What a run's history says about its activities: how many times each was scheduled and started."""

from __future__ import annotations

from collections import Counter
from typing import Any

from temporalio.client import WorkflowHandle


async def activity_attempts(handle: WorkflowHandle[Any, Any]) -> tuple[Counter[str], Counter[str]]:
    """(scheduled, started) per activity type. Temporal records a retried activity's start once, with
    its last attempt number: `started` counts attempts (that number), `scheduled` counts commands."""
    history = await handle.fetch_history()
    names: dict[int, str] = {}
    scheduled: Counter[str] = Counter()
    started: Counter[str] = Counter()
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            names[event.event_id] = name
            scheduled[name] += 1
        elif event.HasField("activity_task_started_event_attributes"):
            attributes = event.activity_task_started_event_attributes
            started[names[attributes.scheduled_event_id]] += attributes.attempt
    return scheduled, started
