"""The handlers of the public contract that both workflows expose the same way: Query `status`,
Update `approve` (with its validator) and Signal `approve`. A workflow class inherits them and sets
`_progress` and `_gate` in its `__init__`."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.approval import ApprovalGate
    from workflows.models import ApprovalDecision, ApprovalRecord, WorkflowStatus
    from workflows.progress import RunProgress


class ApprovalAndStatusHandlers:
    _progress: RunProgress
    _gate: ApprovalGate

    @workflow.query(name="status")
    def status(self) -> WorkflowStatus:
        return self._progress.snapshot()

    @workflow.update(name="approve")
    def approve(self, decision: ApprovalDecision) -> ApprovalRecord:
        return self._gate.decide(decision, "update")

    @approve.validator
    def validate_approve(self, decision: ApprovalDecision) -> None:
        self._gate.validate(decision)

    @workflow.signal(name="approve")
    def approve_signal(self, decision: ApprovalDecision) -> None:
        self._gate.on_signal(decision)
