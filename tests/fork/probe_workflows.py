"""Two versions of one workflow type for the fork's code check: `ForkProbeWorkflow` asks the model
twice; the changed version waits on a timer before its first step, without `workflow.patched` (the
edit that breaks every recorded run), and the late-changed version only after its second step."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from worker.plugin import Extension
    from workflows.kit import KitInput, KitWorkflow, LLMRequest, Message, RunContext

__all__ = ["CHANGED", "CHANGED_LATE", "SOURCE", "ForkProbe", "ForkProbeChanged", "ForkProbeChangedLate"]


@workflow.defn(name="ForkProbeWorkflow")
class ForkProbe(KitWorkflow):
    @workflow.init
    def __init__(self, params: KitInput) -> None:
        self.ctx = RunContext(params)

    @workflow.run
    async def run(self, params: KitInput) -> str:
        await self.before_first()
        first = await self.ctx.llm(
            LLMRequest(messages=[Message.user_text("one")], step_kind="probe", step="first")
        )
        second = await self.ctx.llm(
            LLMRequest(messages=[Message.user_text(first.text())], step_kind="probe", step="second")
        )
        await self.after_second()
        await self.ctx.finish("completed")
        return second.text()

    async def before_first(self) -> None:
        return None

    async def after_second(self) -> None:
        return None


@workflow.defn(name="ForkProbeWorkflow")
class ForkProbeChanged(ForkProbe):
    @workflow.init
    def __init__(self, params: KitInput) -> None:
        super().__init__(params)

    @workflow.run
    async def run(self, params: KitInput) -> str:
        return await super().run(params)

    async def before_first(self) -> None:
        await workflow.sleep(timedelta(milliseconds=10))


@workflow.defn(name="ForkProbeWorkflow")
class ForkProbeChangedLate(ForkProbe):
    @workflow.init
    def __init__(self, params: KitInput) -> None:
        super().__init__(params)

    @workflow.run
    async def run(self, params: KitInput) -> str:
        return await super().run(params)

    async def after_second(self) -> None:
        await workflow.sleep(timedelta(milliseconds=10))


SOURCE = Extension(name="fork-probe", workflows=[ForkProbe])
CHANGED = Extension(name="fork-probe-changed", workflows=[ForkProbeChanged])
CHANGED_LATE = Extension(name="fork-probe-changed-late", workflows=[ForkProbeChangedLate])
