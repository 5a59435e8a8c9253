"""A deliberately incompatible `SessionWorkflow`, registered under the real type name: the replay
gate must reject it against the recorded session histories (their negative control)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.kit import SessionInput, SessionResult, TranscriptEntry
    from workflows.session import SessionWorkflow

__all__ = ["SessionThatPausesBeforeEachTurn"]


@workflow.defn(name="SessionWorkflow")
class SessionThatPausesBeforeEachTurn(SessionWorkflow):
    """A durable timer before every turn, without `workflow.patched`: an edit that reads as a
    harmless pacing tweak and breaks every session in flight."""

    @workflow.init
    def __init__(self, params: SessionInput) -> None:
        super().__init__(params)

    @workflow.run
    async def run(self, params: SessionInput) -> SessionResult:
        return await super().run(params)

    async def _turn(self, first: TranscriptEntry) -> None:
        await workflow.sleep(timedelta(milliseconds=10))
        await super()._turn(first)
