"""Shared by the example's tests: the outbox as the receiver sees it, and waiting for the approval."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from workflows.kit import PendingApproval, WorkflowStatus


def outbox_messages(outbox: Path, workflow_id: str | None = None) -> list[dict[str, Any]]:
    """The messages `send_reply` delivered (of one run: its keys start with the workflow id)."""
    if not outbox.is_dir():
        return []
    messages = [json.loads(path.read_text()) for path in sorted(outbox.glob("*.json"))]
    if workflow_id is None:
        return messages
    return [m for m in messages if str(m["idempotency_key"]).startswith(f"{workflow_id}/")]


def outbox_names(outbox: Path) -> list[str]:
    """Every file of the outbox, hidden ones too."""
    return sorted(path.name for path in outbox.iterdir())


async def pending_approval(handle: WorkflowHandle[Any, Any]) -> PendingApproval:
    """Poll `status` until the run waits for a decision."""
    while True:
        status = await handle.query("status", result_type=WorkflowStatus)
        if status.pending_approval is not None:
            return status.pending_approval
        if status.outcome is not None:
            raise AssertionError(f"the run ended ({status.outcome}) without asking for approval")
        await asyncio.sleep(0.05)  # a poll interval: the run moves on its own
