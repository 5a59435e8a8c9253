"""A minimal workflow that calls tool activities by their declared names, as AgentWorkflow does, so
the tools can be tested through a real worker without depending on the agent loop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.kit import registry
    from activities.tools.models import ToolObservation


class ToolCall(BaseModel):
    name: str
    arguments: dict[str, object]


class ProbeInput(BaseModel):
    calls: list[ToolCall]


@workflow.defn(name="ToolProbeWorkflow")
class ToolProbeWorkflow:
    @workflow.run
    async def run(self, params: ProbeInput) -> list[ToolObservation]:
        return list(await asyncio.gather(*(self._call(call) for call in params.calls)))

    async def _call(self, call: ToolCall) -> ToolObservation:
        tool = registry[call.name]
        return await workflow.execute_activity(
            tool.activity_name,
            tool.input_model.model_validate(call.arguments),
            result_type=ToolObservation,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
            summary=f"tool {call.name}",
        )
