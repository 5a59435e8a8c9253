"""The approval gate both workflows use before a side effect.

It records what is proposed (text + a hash of the exact action), shows it in `status`, in the Web
UI's current details and in the AiApprovalDeadline search attribute, then waits for an `approve`
Update or Signal. An Update is checked by `validate` before it is accepted, so a refused one leaves
nothing in history; a refused Signal is logged and ignored. Past the deadline the gate escalates
(`approval.notify_escalation`), optionally waits a grace period, then applies the run's policy.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from common.contracts.runs import action_hash
    from common.search_attributes import APPROVAL_DEADLINE
    from common.workflow_spans import approval_wait_span
    from workflows.activity_options import NOTIFY
    from workflows.models import (
        ApprovalDecision,
        ApprovalRecord,
        ApprovalSettings,
        EscalationNotice,
        PendingApproval,
        ProposedAction,
        StepRecord,
    )
    from workflows.progress import RunProgress

__all__ = ["ApprovalGate", "action_hash"]

ESCALATION_ACTIVITY = "approval.notify_escalation"
Via = Literal["update", "signal", "deadline", "withdrawn", "rule", "for_run"]


def refused(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


class ApprovalGate:
    def __init__(self, settings: ApprovalSettings, progress: RunProgress) -> None:
        self._settings = settings
        self._progress = progress
        self._pending: PendingApproval | None = None
        self._decision: ApprovalRecord | None = None  # the pending request's decision, once made
        self._approvals: list[ApprovalRecord] = []  # the pending request's approvals so far
        # Signed approvals: checks a decision's signature, returns why it does not count (None: it
        # does). Set from the worker's configuration (`RunContext`); None: decisions unauthenticated.
        self.verify: Callable[[ApprovalDecision, PendingApproval], str | None] | None = None

    @property
    def can_approve(self) -> bool:
        """Whether anyone can approve: without approvers, side effects that need approval are refused."""
        return bool(self._settings.approvers)

    # -- decisions from outside (Update validator/handler, Signal handler) ------------------------

    def validate(self, decision: ApprovalDecision) -> None:
        """Raises if the decision cannot be accepted; the Update validator calls this."""
        if decision.approver not in self._settings.approvers:
            raise refused(f"{decision.approver!r} is not an approver of this run", "UnknownApprover")
        pending = self._pending
        if pending is None or self._decision is not None:
            decisions = self._progress.status.decisions
            done = self._decision or (decisions[-1] if decisions else None)
            if done is not None:
                verdict = "approved" if done.approved else "rejected"
                raise refused(
                    f"already decided: {verdict} by {done.approver}; nothing is pending now",
                    "AlreadyDecided",
                )
            raise refused("nothing is waiting for approval", "NothingPending")
        if decision.action_hash is not None and decision.action_hash != pending.action_hash:
            raise refused(
                f"the pending action changed (hash {pending.action_hash[:12]}...), review it again",
                "ActionChanged",
            )
        if decision.approver in pending.approved_by:
            raise refused(
                f"{decision.approver} approved already; {pending.approvals_needed} different approvers "
                "must approve this action",
                "AlreadyDecided",
            )
        if self.verify is not None:
            reason = self.verify(decision, pending)
            if reason is not None:
                raise refused(reason, "DecisionNotSigned")
            used = [*self._progress.status.decisions, *self._approvals]
            if any(record.signature == decision.signature for record in used):
                # The same call proposed again later in the run has the same hash: a new decision.
                raise refused("this signed decision was used already; sign a new one", "DecisionNotSigned")

    def decide(self, decision: ApprovalDecision, via: Via) -> ApprovalRecord:
        """Records a validated decision; the waiting `request` picks it up."""
        self.validate(decision)
        pending = self._pending
        assert pending is not None
        record = _decided(
            pending,
            approver=decision.approver,
            approved=decision.approved,
            comment=decision.comment,
            via=via,
            budget_usd=decision.budget_usd,
            signed_by=(decision.signed_by or decision.approver) if decision.signature else None,
            signature=decision.signature,
            for_run=decision.for_run and decision.approved,
        )
        if record.approved and len(pending.approved_by) + 1 < pending.approvals_needed:
            # One of several approvals a rule asks for: the action waits for the others.
            pending.approved_by.append(record.approver)
            self._approvals.append(record)
            return record
        self._decision = record
        return record

    def withdraw(self, reason: str) -> None:
        """The request waiting for a decision is withdrawn (an interrupted turn): it ends rejected,
        recorded with `via: "withdrawn"` and the reason. Nothing pending: nothing happens."""
        pending = self._pending
        if pending is None or self._decision is not None:
            return
        self._decision = _decided(
            pending, approver="withdrawn", approved=False, comment=reason, via="withdrawn"
        )

    def on_signal(self, decision: ApprovalDecision) -> None:
        try:
            self.decide(decision, "signal")
        except ApplicationError as error:
            # A Signal cannot be refused to its sender: it is recorded as refused, and changes nothing.
            workflow.logger.warning("ignored approve signal from %r: %s", decision.approver, error.message)
            self._progress.record(
                StepRecord(
                    step="approve signal refused",
                    kind="approval",
                    ok=False,
                    detail=f"{decision.approver}: {error.message}"[:500],
                )
            )

    # -- the waiting side ----------------------------------------------------------------------------

    def record_decided(
        self,
        proposed: ProposedAction,
        hash_: str,
        *,
        approver: str,
        via: Via,
        comment: str,
        by_rule: str | None = None,
    ) -> ApprovalRecord:
        """A decision made without asking anyone (a rule, or an earlier approval for the run): recorded
        in `status` and as a step like any other."""
        record = ApprovalRecord(
            action=proposed.text(),
            action_hash=hash_,
            proposed=proposed,
            approver=approver,
            approved=True,
            comment=comment,
            decided_at=workflow.now(),
            via=via,
            by_rule=by_rule,
        )
        self._record(record)
        return record

    async def request(
        self, proposed: ProposedAction, hash_: str, *, approvals_needed: int = 1
    ) -> ApprovalRecord:
        """Waits for a decision on `proposed` (whose exact arguments `hash_` binds); returns it (a
        deadline decision when nobody answered). `approvals_needed`: different approvers who must
        approve (any rejection rejects)."""
        settings = self._settings
        now = workflow.now()
        action = proposed.text()
        pending = PendingApproval(
            action=action,
            proposed=proposed,
            action_hash=hash_,
            requested_at=now,
            deadline=now + timedelta(seconds=settings.approval_timeout_s),
            approvers=list(settings.approvers),
            approvals_needed=approvals_needed,
        )
        self._pending, self._decision, self._approvals = pending, None, []
        previous_phase = self._progress.status.phase
        self._progress.status.pending_approval = pending
        self._progress.set_phase("awaiting_approval")
        workflow.upsert_search_attributes([APPROVAL_DEADLINE.value_set(pending.deadline)])
        workflow.set_current_details(self._details(pending))
        try:
            with approval_wait_span(proposed.title, hash_, pending.approvers, pending.deadline) as wait:
                record = await self._decision_for(pending)
                wait.decided(approved=record.approved, approver=record.approver, via=record.via)
        # Only where the run goes on (a cancellation may be caught upstream) or fails is the gate
        # closed. Any other BaseException is the worker tearing the run down: GeneratorExit when an
        # evicted run's coroutine is closed outside the workflow's event loop, or the SDK's eviction
        # error. No workflow API may be called then ("Not in workflow event loop"), and nothing needs
        # undoing: the next worker rebuilds the run from its history.
        except (Exception, asyncio.CancelledError):
            self._close()
            raise
        self._close()
        self._progress.status.decisions.extend(self._approvals)  # the others of a two-person rule
        self._record(record)
        self._progress.set_phase(previous_phase)
        return record

    def _record(self, record: ApprovalRecord) -> None:
        self._progress.status.decisions.append(record)
        self._progress.record(
            StepRecord(
                step=f"approval {len(self._progress.status.decisions)}",
                kind="approval",
                ok=record.approved,
                detail=f"{'approved' if record.approved else 'rejected'} by {record.approver} "
                f"via {record.via}" + (f": {record.comment}" if record.comment else ""),
            )
        )

    async def _decision_for(self, pending: PendingApproval) -> ApprovalRecord:
        settings = self._settings
        if not await self._wait(settings.approval_timeout_s):
            await self._escalate(pending)
            pending.escalated = True
            workflow.set_current_details(self._details(pending))
            if settings.approval_grace_s <= 0 or not await self._wait(settings.approval_grace_s):
                self._decision = self._by_policy(pending)
        record = self._decision
        assert record is not None
        return record

    def _close(self) -> None:
        """Nothing is pending any more: clear it from `status`, current details and search attributes."""
        self._pending = None
        self._progress.status.pending_approval = None
        workflow.set_current_details("")
        workflow.upsert_search_attributes([APPROVAL_DEADLINE.value_unset()])

    async def _wait(self, seconds: float) -> bool:
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None, timeout=timedelta(seconds=seconds)
            )
        except TimeoutError:
            return self._decision is not None
        return True

    async def _escalate(self, pending: PendingApproval) -> None:
        info = workflow.info()
        notice = EscalationNotice(
            **pending.model_dump(include={"action", "action_hash", "approvers", "deadline"}),
            workflow_id=info.workflow_id,
            workflow_type=info.workflow_type,
            policy=self._settings.approval_policy,
        )
        try:
            await workflow.execute_activity(
                ESCALATION_ACTIVITY, notice, summary="notify escalation", **NOTIFY.kwargs()
            )
        except ActivityError as error:
            # Escalation is best effort: the policy still decides, the run does not hang or fail.
            workflow.logger.warning("approval escalation failed: %s", error.cause or error)

    def _by_policy(self, pending: PendingApproval) -> ApprovalRecord:
        policy = self._settings.approval_policy
        # With signed approvals, only a person's key or an operator's rule approves: a deadline does not.
        approve = policy == "approve" and self.verify is None
        comment = f"no decision by the deadline; policy {policy!r} applied"
        if policy == "approve" and not approve:
            comment = "no decision by the deadline; rejected: with signed approvals only a rule approves without a person"
        return _decided(
            pending, approver="policy", approved=approve, comment=comment, via="deadline", by_policy=True
        )

    def _details(self, pending: PendingApproval) -> str:
        info = workflow.info()
        who = ", ".join(pending.approvers)
        first = pending.approvers[0] if pending.approvers else "NAME"
        example = json.dumps({"approver": first, "approved": True, "comment": "ok"})
        state = "escalated, waiting the grace period" if pending.escalated else "waiting"
        return (
            f"**Awaiting approval** ({state})\n\n"
            f"Proposed (complete):\n\n```\n{pending.action}\n```\n\n"
            f"Action hash: `{pending.action_hash}`\n\n"
            f"Who may approve: {who}\n\n"
            f"Deadline: {pending.deadline.isoformat()} (then policy {self._settings.approval_policy!r})\n\n"
            f"Decide: `temporal workflow update execute --workflow-id {info.workflow_id} "
            f"--name approve --input '{example}'`"
        )


def _decided(
    pending: PendingApproval, *, approver: str, approved: bool, comment: str, via: Via, **details: Any
) -> ApprovalRecord:
    """The record of a decision on `pending`, made now (`details`: the record's optional fields)."""
    return ApprovalRecord(
        action=pending.action,
        action_hash=pending.action_hash,
        proposed=pending.proposed,
        approver=approver,
        approved=approved,
        comment=comment,
        decided_at=workflow.now(),
        via=via,
        **details,
    )
