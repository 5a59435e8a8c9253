"""A workflow of one's own that asks approval for a plan (an action of its own kind), then looks
something up with a read-only tool: the approval gates no side effect of the kit's."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.approval import action_hash
    from workflows.kit import KitInput, KitWorkflow, RunContext
    from workflows.models import ProposedAction

__all__ = ["PlanProbeWorkflow"]


@workflow.defn(name="PlanProbeWorkflow")
class PlanProbeWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: KitInput) -> None:
        self.ctx = RunContext(params)

    @workflow.run
    async def run(self, params: KitInput) -> str:
        self.ctx.offer_tools(["calculator"])
        plan = ProposedAction(kind="plan", name="plan", title="Add one and one")
        decision = await self.ctx.request_approval(plan, action_hash("plan", {"plan": "1 + 1"}))
        if not decision.approved:
            return "rejected"
        observation = await self.ctx.call_tool("calculator", {"expression": "1 + 1"})
        return observation.content
