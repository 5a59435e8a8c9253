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


with workflow.unsafe.imports_passed_through():
    from tests.workflow.held_marks import Held, held


@workflow.defn
class HoldingWorkflow:
    """Keeps objects in an attribute for the whole run, as an agent keeps its transcript."""

    def __init__(self) -> None:
        self._held: list[Held] = []

    @workflow.run
    async def run(self, count: int) -> int:
        self._held = held(count)
        return len(self._held)
