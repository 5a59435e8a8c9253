"""Waiting on and inspecting runs in starter tests."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from starter import api
from workflows.models import PendingApproval


async def pending_approval(client: Client, workflow_id: str) -> PendingApproval:
    """Poll `status` until the run waits for a decision. Not through `watch`: a watcher's stream
    polls are Updates in the run's history, which tests that count history events must not see."""
    while True:
        status = await api.get_status(client, workflow_id)
        if status.pending_approval is not None:
            return status.pending_approval
        if status.outcome is not None:
            raise AssertionError("the run ended without asking for approval")
        await asyncio.sleep(0.05)  # a poll interval: the run moves on its own


async def update_events(client: Client, workflow_id: str, name: str | None = None) -> int:
    """Updates accepted into the run's history (all, or only those named `name`)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(
        event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and name
        in (None, event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name)
        for event in history.events
    )
