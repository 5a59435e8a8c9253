"""A workflow that lies to `mcp.call_tool`: it sends whatever request it is given (a denied tool, a
tool that needs approval with no approval or another call's), as a forged run state once could. The
activity must refuse from the worker's own configuration."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from common.contracts.mcp import McpCallRequest
    from workflows.activity_options import mcp_call_options


@workflow.defn(name="McpCallProbe")
class McpCallProbe:
    @workflow.run
    async def run(self, request: McpCallRequest) -> str:
        """The observation's text, or `refused TYPE: MESSAGE` when the activity failed."""
        try:
            observation = await workflow.execute_activity(
                "mcp.call_tool", request, result_type=dict, **mcp_call_options(30).kwargs()
            )
        except ActivityError as error:
            cause = error.cause
            return f"refused {getattr(cause, 'type', '')}: {getattr(cause, 'message', cause)}"
        return str(observation["content"])
