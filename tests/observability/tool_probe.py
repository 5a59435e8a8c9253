"""A workflow that runs the `tool.calculator` activity on each input (its own module: the sandbox
re-imports a workflow's module, so it imports only the workflow API and passed-through models)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.tools.calculator import CalculatorInput
    from activities.tools.models import ToolObservation


@workflow.defn(name="ToolProbe")
class ToolProbe:
    @workflow.run
    async def run(self, calls: list[CalculatorInput]) -> list[ToolObservation]:
        return [
            await workflow.execute_activity(
                "tool.calculator",
                call,
                result_type=ToolObservation,
                start_to_close_timeout=timedelta(seconds=30),
            )
            for call in calls
        ]
