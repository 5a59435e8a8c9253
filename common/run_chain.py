"""A run chain read back from Temporal: every run's history from the chain's first run to its last,
following continue-as-new. A fork reads its source with it (activities/fork.py) and the eval export
its recorded runs (starter/eval/history.py); each says "no such run" in its own words (`NoSuchRun`).
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

__all__ = ["NoSuchRun", "RunChain", "read_chain"]


class NoSuchRun(Exception):
    """Temporal has no run `workflow_id`/`run_id` (an unknown id, or one past its retention)."""

    def __init__(self, workflow_id: str, run_id: str) -> None:
        super().__init__(f"no run {workflow_id}/{run_id}")
        self.workflow_id = workflow_id
        self.run_id = run_id


@dataclass(frozen=True)
class RunChain:
    """The chain's histories, first run to last, and the first run's id as the chain names it (a
    reset run's history keeps the run id it was copied from, so `histories[0].run_id` may differ)."""

    first_run_id: str
    histories: list[WorkflowHistory]


async def read_chain(client: Client, workflow_id: str, run_id: str) -> RunChain:
    """The chain that run `run_id` of `workflow_id` belongs to, from its first run."""
    named = await _history(client, workflow_id, run_id)
    started = named.events[0].workflow_execution_started_event_attributes
    first = started.first_execution_run_id or run_id
    histories: list[WorkflowHistory] = []
    next_run = first
    while next_run:
        history = named if next_run == named.run_id else await _history(client, workflow_id, next_run)
        histories.append(history)
        last = history.events[-1]
        next_run = ""
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            next_run = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return RunChain(first, histories)


async def _history(client: Client, workflow_id: str, run_id: str) -> WorkflowHistory:
    try:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise NoSuchRun(workflow_id, run_id) from None
        raise
    if not history.events:
        raise NoSuchRun(workflow_id, run_id)
    return history
