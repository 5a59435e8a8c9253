"""What the inbox reads from Temporal, against the dev server with a worker: the pending list and its
order, the run's page data, and a decision whose action changed."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from common.settings import Settings
from inbox.runs import CHANGED_MESSAGE, TemporalRuns
from tests.fakes.receivers import HttpReceiver
from tests.inbox.pending import TOPIC, start_pending_research
from worker.app import build_worker
from workflows.models import ApprovalDecision, WorkflowStatus


async def test_pending_runs_come_newest_deadline_first_with_goal_cost_and_approvers(
    dev_client: Client, settings: Settings, http_receiver: HttpReceiver
) -> None:
    runs = TemporalRuns(dev_client, web_ui="http://ui.example:8233/")
    async with build_worker(dev_client, settings):
        sooner, later = await asyncio.gather(
            start_pending_research(dev_client, settings, http_receiver, approval_timeout_s=3600),
            start_pending_research(
                dev_client, settings, http_receiver, approval_timeout_s=7200, approvers=["carol", "alice"]
            ),
        )
        try:
            listed = [run for run in await runs.pending() if run.workflow_id in (sooner.id, later.id)]
            assert [run.workflow_id for run in listed] == [later.id, sooner.id]
            first = listed[0]
            status = await later.query("status", result_type=WorkflowStatus)
            assert status.pending_approval is not None
            assert (first.goal, first.action, first.action_hash, first.deadline, first.proposed) == (
                TOPIC,
                status.pending_approval.action,
                status.pending_approval.action_hash,
                status.pending_approval.deadline,
                status.pending_approval.proposed,
            )
            assert first.cost_usd == status.cost_usd > 0
            assert sorted(first.approvers) == ["alice", "carol"]
            assert first.web_ui_url == (
                f"http://ui.example:8233/namespaces/default/workflows/{later.id}/{first.run_id}/history"
            )

            detail = await runs.detail(sooner.id)
            assert detail.goal == TOPIC and detail.execution_status == "Running"
            assert (
                detail.status is not None and len(detail.status.completed_steps) >= 4
            )  # plan, 2 x research, synthesize

            # A decision on an action other than the one pending is refused by the workflow.
            outcome = await runs.decide(
                sooner.id,
                ApprovalDecision(approver="alice", approved=True),
                expected_hash="0" * 64,
                update_id="inbox/alice/stale-form",
            )
            assert not outcome.accepted
            assert outcome.message == CHANGED_MESSAGE
        finally:
            for handle in (sooner, later):
                await handle.execute_update("approve", ApprovalDecision(approver="alice", approved=False))
            await asyncio.gather(sooner.result(), later.result())
