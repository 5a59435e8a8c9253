"""A kit workflow that publishes items to its run stream, carries `kept` of them across one
continue-as-new, and returns what the next run received (tests/workflow/test_carry_stream.py)."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow

from workflows.kit import KitInput, KitWorkflow, RunContext
from workflows.models import RunCarry

TOPIC = "carry-test"


class CarryStreamInput(KitInput):
    items: int
    kept: int
    carried: RunCarry | None = None


class CarriedStream(BaseModel):
    base_offset: int
    items: list[str]  # every carried item's wire form (base64 of its Payload), oldest first


@workflow.defn(name="CarryStreamWorkflow")
class CarryStreamWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: CarryStreamInput) -> None:
        self.ctx = RunContext(params, carried=params.carried)

    @workflow.run
    async def run(self, params: CarryStreamInput) -> CarriedStream:
        if params.carried is not None:
            await self.ctx.accept_carried(params.carried)
            state = params.carried.stream_state
            assert state is not None
            await self.ctx.finish("completed")
            return CarriedStream(base_offset=state.base_offset, items=[item.data for item in state.log])
        topic = self.ctx.stream.topic(TOPIC, type=str)
        for number in range(params.items):
            topic.publish(f"item {number}")
        carried = await self.ctx.carry(stream_items_kept=params.kept)
        workflow.continue_as_new(params.model_copy(update={"carried": carried}))
