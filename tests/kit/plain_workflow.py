"""A user's workflow written without the boilerplate the plugin now supplies: the kit imported at the
top of the module (no `workflow.unsafe.imports_passed_through()`), and no
`failure_exception_types=[ValidationError]` on the definition."""

from __future__ import annotations

from pydantic import BaseModel, Field
from temporalio import workflow

from workflows.kit import KitInput, KitWorkflow, RunContext


class PlainInput(KitInput):
    count: int = 1


class Checked(BaseModel):
    count: int = Field(ge=1, le=3)


@workflow.defn(name="PlainKitWorkflow")
class PlainKitWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: PlainInput) -> None:
        self.ctx = RunContext(params)

    @workflow.run
    async def run(self, params: PlainInput) -> int:
        # Raises pydantic's ValidationError for a count over 3: the run must fail, not loop.
        checked = Checked(count=params.count)
        await self.ctx.finish("completed")
        return checked.count
