"""What tests read from a run's history: its markers, its search-attribute upserts, the activities it
scheduled and the input it continued-as-new with."""

from __future__ import annotations

import json

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

__all__ = ["continued_input", "markers", "scheduled_activities", "upserted_keys"]

PATCH_MARKER = "core_patch"


def markers(history: WorkflowHistory) -> list[str]:
    """Each marker in order: a `workflow.patched` marker as its patch id, any other by its name."""
    found = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == PATCH_MARKER:
            found.append(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
        else:
            found.append(marker.marker_name)
    return found


def upserted_keys(history: WorkflowHistory) -> list[list[str]]:
    """The search attributes each upsert set, sorted, in order."""
    return [
        sorted(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]


def scheduled_activities(history: WorkflowHistory) -> list[str]:
    """The activity type of each activity the run scheduled, in order."""
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def continued_input(history: WorkflowHistory) -> Payload:
    """The input a run that continued-as-new handed to its next run (its history's last event)."""
    return history.events[-1].workflow_execution_continued_as_new_event_attributes.input.payloads[0]
