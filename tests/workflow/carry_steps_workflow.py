"""A kit workflow of one's own that calls a tool `per_run` times in each of `runs` runs, continuing-as-new
with `ctx.carry` between them, and returns the steps its last run's `status` lists
(tests/workflow/test_carry_steps.py)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.kit import KitInput, KitWorkflow, RunContext
    from workflows.models import RunCarry, StepRecord

__all__ = ["CarryStepsInput", "CarryStepsWorkflow"]


class CarryStepsInput(KitInput):
    runs: int
    per_run: int
    carried: RunCarry | None = None


@workflow.defn(name="CarryStepsWorkflow")
class CarryStepsWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: CarryStepsInput) -> None:
        self.ctx = RunContext(params, carried=params.carried)

    @workflow.run
    async def run(self, params: CarryStepsInput) -> list[StepRecord]:
        await self.ctx.accept_carried(params.carried)
        self.ctx.offer_tools(["calculator"])
        for _ in range(params.per_run):
            await self.ctx.call_tool("calculator", {"expression": "1 + 1"})
        if self.ctx.status.runs < params.runs:
            carried: RunCarry = await self.ctx.carry()
            workflow.continue_as_new(params.model_copy(update={"carried": carried}))
        await self.ctx.finish("completed")
        return self.ctx.status.completed_steps
