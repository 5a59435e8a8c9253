"""Two workflow types of one run chain: the first continues-as-new as the second (what
`workflow.continue_as_new(workflow=...)` allows), so a replay of the chain needs both."""

from __future__ import annotations

from temporalio import workflow

__all__ = ["SwitchedTo", "SwitchesType"]


@workflow.defn(name="ForkReplaySwitchedTo")
class SwitchedTo:
    @workflow.run
    async def run(self, value: str) -> str:
        return value


@workflow.defn(name="ForkReplaySwitchesType")
class SwitchesType:
    @workflow.run
    async def run(self, value: str) -> str:
        workflow.continue_as_new(value, workflow=SwitchedTo.run)
