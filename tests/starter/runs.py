"""Waiting on and inspecting runs in starter tests."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from starter.watch import PhaseChanged, watch
from workflows.models import PendingApproval


async def pending_approval(client: Client, workflow_id: str) -> PendingApproval:
    """Follow the run until it waits for a decision (the watch ends only with the run)."""
    async for event in watch(client, workflow_id, poll_interval_s=0.05):
        if isinstance(event, PhaseChanged) and event.pending_approval is not None:
            return event.pending_approval
    raise AssertionError("the run ended without asking for approval")


async def update_events(client: Client, workflow_id: str, name: str | None = None) -> int:
    """Updates accepted into the run's history (all, or only those named `name`)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(
        event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and name
        in (None, event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name)
        for event in history.events
    )
