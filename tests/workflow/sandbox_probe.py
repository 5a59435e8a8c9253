"""A workflow that reports whether the sandbox still stops it from reading the clock of the host."""

from __future__ import annotations

import datetime

from temporalio import workflow
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError


@workflow.defn
class SandboxProbeWorkflow:
    @workflow.run
    async def run(self, message: str) -> str:
        try:
            datetime.date.today()
        except RestrictedWorkflowAccessError:
            return f"{message}: restricted"
        return f"{message}: the host's clock was read"
