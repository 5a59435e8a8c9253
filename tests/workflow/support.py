"""Small helpers of the workflow tests: a worker with chosen activities, waiting for a status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.approval_policy import APPROVAL_POLICY_ACTIVITIES
from activities.run_state import RUN_STATE_ACTIVITIES
from common.settings import Settings
from worker.app import build_worker
from workflows.models import WorkflowStatus


def worker_with(client: Client, settings: Settings, activities: Sequence[Callable[..., Any]]) -> Worker:
    """The product's worker (all workflows) with these activities instead of the real ones (and the
    seals on carried state and the approval policy, which every kit worker runs)."""
    return build_worker(
        client, settings, activities=[*activities, *RUN_STATE_ACTIVITIES, *APPROVAL_POLICY_ACTIVITIES]
    )


async def status_until(
    handle: WorkflowHandle[Any, Any],
    condition: Callable[[WorkflowStatus], bool],
    timeout_s: float = 15.0,
) -> WorkflowStatus:
    """Polls the `status` query until `condition` holds (the workflow's own state is the signal)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        status = await handle.query("status", result_type=WorkflowStatus)
        if condition(status):
            return status
        if loop.time() > deadline:
            raise AssertionError(f"status never matched; last: {status.model_dump_json()[:500]}")
        await asyncio.sleep(0.02)


async def pending_approval(handle: WorkflowHandle[Any, Any]) -> WorkflowStatus:
    return await status_until(handle, lambda s: s.pending_approval is not None)
