"""A workflow that makes one call with the product's TOOL_CALL or LLM_CALL options on a task queue of
its choice (tests/workflow/test_outage_wait.py)."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.activity_options import LLM_CALL, TOOL_CALL

ECHO = "outage.echo"


class OutageCall(BaseModel):
    options: str  # "tool" or "llm"
    task_queue: str


@workflow.defn(name="OutageProbe")
class OutageProbe:
    @workflow.run
    async def run(self, call: OutageCall) -> str:
        options = TOOL_CALL if call.options == "tool" else LLM_CALL
        reply: str = await workflow.execute_activity(
            ECHO, "answered", task_queue=call.task_queue, result_type=str, **options.kwargs()
        )
        return reply
