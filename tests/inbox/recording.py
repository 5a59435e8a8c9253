"""An in-memory stand-in for Temporal behind the inbox (`Runs`): one run waiting for approval, and
the decisions the inbox sent, for tests about who may do what rather than about workflows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from inbox.runs import DecisionOutcome, PendingRun, RunDetail, RunNotFound
from workflows.models import ApprovalDecision, PendingApproval, ProposedAction, WorkflowStatus

RUN_ID = "research-abc"
ACTION = "Deliver the report to https://hooks.example/report\n<b>not bold</b>"


@dataclass
class RecordingRuns:
    decisions: list[tuple[str, ApprovalDecision, str]] = field(default_factory=list)
    proposed: ProposedAction | None = None  # None: a run recorded before structured actions

    def _pending(self) -> PendingApproval:
        now = datetime.now(UTC)
        action = self.proposed.text() if self.proposed else ACTION
        return PendingApproval(
            action=action,
            action_hash="h1",
            requested_at=now,
            deadline=now + timedelta(hours=2),
            proposed=self.proposed,
        )

    async def pending(self) -> list[PendingRun]:
        pending = self._pending()
        return [
            PendingRun(
                workflow_id=RUN_ID,
                run_id="r1",
                workflow_type="ResearchWorkflow",
                goal="durable agents",
                action=pending.action,
                action_hash=pending.action_hash,
                deadline=pending.deadline,
                cost_usd=0.0123,
                approvers=["alice"],
                web_ui_url="http://localhost:8233/namespaces/default/workflows/research-abc/r1/history",
                proposed=pending.proposed,
            )
        ]

    async def detail(self, workflow_id: str) -> RunDetail:
        if workflow_id != RUN_ID:
            raise RunNotFound(workflow_id)
        return RunDetail(
            workflow_id=RUN_ID,
            run_id="r1",
            workflow_type="ResearchWorkflow",
            execution_status="Running",
            goal="durable agents",
            approvers=["alice"],
            web_ui_url="http://ui/x",
            status=WorkflowStatus(phase="awaiting_approval", pending_approval=self._pending()),
        )

    async def decide(
        self, workflow_id: str, decision: ApprovalDecision, *, expected_hash: str, update_id: str
    ) -> DecisionOutcome:
        self.decisions.append((workflow_id, decision, expected_hash))
        return DecisionOutcome(True, f"recorded for {decision.approver}")
