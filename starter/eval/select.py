"""Which closed runs an eval or an export takes: a visibility query (the same language as the Web UI's
and `temporal workflow list --query`) or workflow ids. A run still running is skipped by a query and
refused by id; a run that continued-as-new counts once, as its chain."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from common.contracts.evals import RecordedRun
from starter.api import StarterError
from starter.eval.history import read_run

__all__ = ["DEFAULT_LIMIT", "read_selected", "select_ids"]

DEFAULT_LIMIT = 200  # runs a query selects at most (`--limit`)
_NOT_CLOSED = {WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW}
_READ_AT_ONCE = 8  # histories fetched concurrently


async def select_ids(
    client: Client, *, query: str | None, ids: Sequence[str] | None, limit: int = DEFAULT_LIMIT
) -> list[str]:
    """The selected workflow ids, each once, in the order given (a query: newest first)."""
    if ids:
        return list(dict.fromkeys(ids))
    if not query:
        raise StarterError("give --query VISIBILITY_QUERY or --ids ID,...")
    chosen: list[str] = []
    try:
        async for execution in client.list_workflows(query, limit=limit * 4):
            if execution.status in _NOT_CLOSED or execution.status is None:
                continue
            if execution.id not in chosen:
                chosen.append(execution.id)
            if len(chosen) >= limit:
                break
    except RPCError as error:
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            raise StarterError(f"invalid --query: {error.message}") from None
        raise
    if not chosen:
        raise StarterError(f"no closed run matches the query {query!r}")
    return chosen


async def read_selected(client: Client, workflow_ids: Sequence[str]) -> list[RecordedRun]:
    """Each selected run read from its history (a few at a time), in the order given."""
    gate = asyncio.Semaphore(_READ_AT_ONCE)

    async def read(workflow_id: str) -> RecordedRun:
        async with gate:
            return await read_run(client, workflow_id)

    return list(await asyncio.gather(*(read(workflow_id) for workflow_id in workflow_ids)))
