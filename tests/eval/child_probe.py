"""A workflow of one's own that hands its work to a child agent through `ctx.child`, written as an
author would who does not think of eval mode or tenants: the child's input names neither."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.agent import AgentWorkflow
    from workflows.kit import KitInput, KitWorkflow, RunContext
    from workflows.models import AgentInput, AgentResult

__all__ = ["CHILD_TOOL", "ChildProbeWorkflow"]

CHILD_TOOL = "child_probe_notify"


@workflow.defn(name="ChildProbeWorkflow")
class ChildProbeWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: KitInput) -> None:
        self.ctx = RunContext(params)

    @workflow.run
    async def run(self, params: KitInput) -> str:
        child_id = f"{workflow.info().workflow_id}/child"
        result: AgentResult = await self.ctx.child(
            AgentWorkflow.run,
            AgentInput(goal="Tell the team", tools=[CHILD_TOOL]),
            id=child_id,
            step="child",
            usage_of=lambda r: (r.usage, r.cost_usd, r.outcome),
        )
        return result.answer
