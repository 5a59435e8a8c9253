"""Deliberately incompatible copies of the workflows, registered under the real type names: the
replay gate must reject them (its negative control). Each is the kind of edit that looks harmless in
review and breaks every run in flight."""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.activity_options import TOOL_CALL
    from workflows.agent import AgentWorkflow
    from workflows.models import AgentInput, AgentResult, ResearchInput, ResearchResult
    from workflows.research import ResearchWorkflow


@workflow.defn(name="ResearchWorkflow", failure_exception_types=[ValidationError])
class ResearchWithAnExtraFirstStep(ResearchWorkflow):
    """Adds an activity call (a clock lookup) before the plan, without `workflow.patched`."""

    @workflow.init
    def __init__(self, params: ResearchInput) -> None:
        super().__init__(params)

    @workflow.run
    async def run(self, params: ResearchInput) -> ResearchResult:
        await workflow.execute_activity("tool.current_time", {}, **TOOL_CALL.kwargs())
        return await super().run(params)


@workflow.defn(name="AgentWorkflow", failure_exception_types=[ValidationError])
class AgentThatPausesFirst(AgentWorkflow):
    """Adds a durable timer before the first model call, without `workflow.patched`."""

    @workflow.init
    def __init__(self, params: AgentInput) -> None:
        super().__init__(params)

    @workflow.run
    async def run(self, params: AgentInput) -> AgentResult:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(params)


@workflow.defn(name="ResearchWorkflow", failure_exception_types=[ValidationError])
class ResearchWithAPatchedExtraStep(ResearchWorkflow):
    """The same extra step as `ResearchWithAnExtraFirstStep`, done right: behind `workflow.patched`,
    so runs recorded before the change replay the old path and new runs take the new one."""

    @workflow.init
    def __init__(self, params: ResearchInput) -> None:
        super().__init__(params)

    @workflow.run
    async def run(self, params: ResearchInput) -> ResearchResult:
        if workflow.patched("clock-before-plan"):
            await workflow.execute_activity("tool.current_time", {}, **TOOL_CALL.kwargs())
        return await super().run(params)
