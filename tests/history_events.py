"""What tests read from a run's history: its markers and its search-attribute upserts."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

__all__ = ["markers", "upserted_keys"]

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
