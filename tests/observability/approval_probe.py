"""A workflow with the approval gate's shape, kept in its own module: the sandbox re-imports a
workflow's module, so it imports nothing but the workflow API and the span helper."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from common.workflow_spans import approval_wait_span


@workflow.defn(name="ApprovalSpanProbe")
class ApprovalSpanProbe:
    """A span around a wait that outlives workflow tasks."""

    def __init__(self) -> None:
        self._approver: str | None = None

    @workflow.signal
    def approve(self, approver: str) -> None:
        self._approver = approver

    @workflow.run
    async def run(self) -> str:
        deadline = workflow.now() + timedelta(hours=4)
        with approval_wait_span("send_email to ops", "hash-1", ["ana", "bo"], deadline) as wait:
            await workflow.wait_condition(lambda: self._approver is not None)
            assert self._approver is not None
            wait.decided(approved=True, approver=self._approver, via="signal")
        return self._approver
