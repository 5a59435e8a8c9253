"""A tool declared with its own activity options (`@tool(timeout=..., max_attempts=...)`), kept out
of the process-wide registry, and a workflow that calls it once."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

from activities.kit import ToolObservation, ToolRegistry, tool
from workflows.kit import KitInput, KitWorkflow, RegisteredTool, RunContext

ATTEMPTS: list[int] = []
PRIVATE = ToolRegistry()


class ProbeInput(BaseModel):
    text: str


@tool(
    description="Fails every time (counts its attempts).",
    max_attempts=2,
    timeout=timedelta(seconds=3),
    into=PRIVATE,
)
async def always_failing(params: ProbeInput) -> str:
    ATTEMPTS.append(1)
    raise RuntimeError(f"broken: {params.text}")


@workflow.defn(name="ToolOptionsProbe")
class ToolOptionsProbe(KitWorkflow):
    @workflow.init
    def __init__(self, params: KitInput) -> None:
        self.ctx = RunContext(params)

    @workflow.run
    async def run(self, params: KitInput) -> ToolObservation:
        self.ctx.offer_tools([always_failing.name], extra=[RegisteredTool(always_failing)])
        observation = await self.ctx.call_tool(always_failing.name, {"text": "x"})
        await self.ctx.finish("completed")
        return observation
