"""A stand-in workflow that hosts a Workflow Stream exactly as `starter.watch` expects the product's
workflows to: phases on topic `phase` (str), finished steps on topic `steps` (StepRecord), a `status`
query, and pollers released before the run returns. It pauses in `awaiting_approval` until signalled,
so a test decides when it ends without sleeping."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream

with workflow.unsafe.imports_passed_through():
    from workflows.models import PendingApproval, StepRecord, WorkflowStatus


class ProgressInput(BaseModel):
    steps: int = 2
    stream: bool = True  # False: a run with only the `status` query (as runs from before streams)


@workflow.defn(name="ProgressProbeWorkflow")
class ProgressProbeWorkflow:
    @workflow.init
    def __init__(self, params: ProgressInput) -> None:
        self._stream = WorkflowStream() if params.stream else None
        self._status = WorkflowStatus(phase="starting")
        self._proceed = False

    @workflow.query(name="status")
    def status(self) -> WorkflowStatus:
        return self._status

    @workflow.signal(name="proceed")
    def proceed(self) -> None:
        self._proceed = True

    @workflow.run
    async def run(self, params: ProgressInput) -> str:
        self._phase("running")
        for i in range(params.steps):
            self._step(StepRecord(step=f"step {i + 1}", kind="llm", model="probe", input_tokens=10 * (i + 1)))
        now = workflow.now()
        self._status.pending_approval = PendingApproval(
            action="send the report",
            action_hash="ab" * 32,
            requested_at=now,
            deadline=now + timedelta(hours=24),
        )
        self._phase("awaiting_approval")
        await workflow.wait_condition(lambda: self._proceed)
        self._status.pending_approval = None
        self._step(StepRecord(step="deliver", kind="delivery"))
        self._phase("completed")
        if self._stream is not None:
            self._stream.detach_pollers()
            await workflow.wait_condition(workflow.all_handlers_finished)
        return "done"

    def _phase(self, phase: str) -> None:
        self._status.phase = phase
        if self._stream is not None:
            self._stream.topic("phase", type=str).publish(phase)

    def _step(self, record: StepRecord) -> None:
        self._status.completed_steps.append(record)
        if self._stream is not None:
            self._stream.topic("steps", type=StepRecord).publish(record)
