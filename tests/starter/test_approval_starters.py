"""approve/reject from the starter functions against the real ResearchWorkflow gate (time-skipping):
the Update returns the recorded decision or the validator's reason (and a refusal leaves no event in
history); the Signal is fire-and-forget."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from common.settings import Settings
from starter import api
from tests.starter.runs import pending_approval, update_events
from worker.app import build_worker
from workflows.models import ResearchInput


async def test_approve_by_update(ts_client: Client, settings: Settings, task_queue: str) -> None:
    async with build_worker(ts_client, settings):
        handle = await api.start_research(
            ts_client,
            ResearchInput(topic="fjords", max_subtopics=1, approvers=["ana"]),
            task_queue=task_queue,
        )
        pending = await pending_approval(ts_client, handle.id)
        assert pending.approvers == ["ana"] and "fjords" in pending.action

        with pytest.raises(
            api.StarterError, match="decision refused: 'mallory' is not an approver of this run"
        ):
            await api.approve(ts_client, handle.id, "mallory")
        with pytest.raises(api.StarterError, match="decision refused: the pending action changed"):
            await api.approve(ts_client, handle.id, "ana", action_hash="0" * 64)
        assert await update_events(ts_client, handle.id, "approve") == 0  # refused: no trace

        recorded = await api.approve(
            ts_client, handle.id, "ana", "looks right", action_hash=pending.action_hash
        )
        result = await handle.result()
        # A decision after the run ended is refused in one line.
        with pytest.raises(api.StarterError, match=handle.id):
            await api.approve(ts_client, handle.id, "ana")
    assert recorded is not None
    assert (recorded.approver, recorded.approved, recorded.comment, recorded.via) == (
        "ana",
        True,
        "looks right",
        "update",
    )
    assert recorded.action_hash == pending.action_hash
    assert result.outcome == "completed" and result.approval == recorded


async def test_reject_by_signal(ts_client: Client, settings: Settings, task_queue: str) -> None:
    async with build_worker(ts_client, settings):
        handle = await api.start_research(
            ts_client,
            ResearchInput(topic="atolls", max_subtopics=1, approvers=["ana", "bo"]),
            task_queue=task_queue,
        )
        await pending_approval(ts_client, handle.id)
        assert await api.reject(ts_client, handle.id, "bo", "not yet", via_signal=True) is None
        result = await handle.result()
    assert result.outcome == "rejected"
    assert result.approval is not None
    assert (result.approval.approver, result.approval.approved, result.approval.via) == (
        "bo",
        False,
        "signal",
    )
