"""`KitWorkflow`: the base class of every kit workflow. It gives the run the public contract's
handlers — Query `status`, Update `approve` (with its validator), Signal `approve` — and the
`child_progress` Signal that children report their totals with. A subclass sets `self.ctx` (a
`RunContext`) in its `@workflow.init`."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from common.contracts.waits import RATE_LIMIT_WAIT_SIGNAL, RateLimitWait
    from workflows.kit.context import RunContext
    from workflows.models import ApprovalDecision, ApprovalRecord, ChildProgress, WorkflowStatus

__all__ = ["KitWorkflow"]


class KitWorkflow:
    ctx: RunContext

    @workflow.query(name="status")
    def status(self) -> WorkflowStatus:
        return self.ctx._progress.snapshot()

    @workflow.update(name="approve")
    def approve(self, decision: ApprovalDecision) -> ApprovalRecord:
        return self.ctx._gate.decide(decision, "update")

    @approve.validator
    def validate_approve(self, decision: ApprovalDecision) -> None:
        self.ctx._gate.validate(decision)

    @workflow.signal(name="approve")
    def approve_signal(self, decision: ApprovalDecision) -> None:
        self.ctx._gate.on_signal(decision)

    @workflow.signal(name=RATE_LIMIT_WAIT_SIGNAL)
    def rate_limit_wait(self, wait: RateLimitWait) -> None:
        """A model call of this run waits for the shared rate limit (sent by `llm.complete`)."""
        self.ctx._waits.on_signal(wait)

    @workflow.signal(name="child_progress")
    def child_progress(self, progress: ChildProgress) -> None:
        self.ctx._progress.child_running(progress)
