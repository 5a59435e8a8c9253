"""A workflow whose input holds a transcript (an `LLMRequest`): the payload converter must decode it
whole in a workflow activation, not through the worker's kept transcripts (common/message_decode.py)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from common.contracts.llm import LLMRequest

__all__ = ["TranscriptProbeWorkflow"]


@workflow.defn(name="TranscriptProbeWorkflow")
class TranscriptProbeWorkflow:
    @workflow.run
    async def run(self, request: LLMRequest) -> int:
        return len(request.messages)
