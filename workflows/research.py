"""ResearchWorkflow, on the kit: plan -> research each subtopic concurrently -> synthesize -> approval
gate -> deliver -> the report with sources, per-step usage and cost.

- `depth="quick"`: one LLM step per subtopic; `depth="deep"`: a child AgentWorkflow per subtopic
  with the read-only tools, whose usage and cost count here (live while it runs, final when it ends).
- At most `max_parallel` subtopics run at once. A subtopic that fails after its retries is listed in
  `failed_subtopics`; only when every subtopic fails does the run fail.
- `budget_usd`: once spent, no further subtopic starts and synthesis is skipped (outcome
  "budget_exhausted"; the notes gathered so far are the report). A model call the tenant's budget
  refuses (TENANT_BUDGETS_FILE) stops the run the same way, outcome "tenant_budget_exhausted".
- With `approvers`, the report waits for approval before delivery; `deliver_to` is checked before
  anything runs and delivered with the idempotency key `{workflow_id}/{first run id}/deliver`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.kit import READ_ONLY_TOOLS
    from workflows.agent import AgentWorkflow
    from workflows.kit import (
        TENANT_BUDGET_EXHAUSTED_OUTCOME,
        KitWorkflow,
        LLMRequest,
        Message,
        RunContext,
        approve_and_deliver,
        delivery_channel,
    )
    from workflows.models import AgentInput, AgentResult, ResearchInput, ResearchResult

__all__ = ["ResearchWorkflow", "delivery_channel", "parse_subtopics"]

T = TypeVar("T")

PLAN_SYSTEM = (
    "You plan research. Reply with only a JSON array of at most {n} short subtopic strings "
    "that together cover the topic."
)
RESEARCH_SYSTEM = "You research one subtopic of a larger topic. Reply with concise factual notes."
SYNTHESIZE_SYSTEM = "You write a short report from research notes. Keep the structure clear."
SUMMARIZED_FAN_OUT = 20  # research steps up to this many get a Web UI summary each
DEEP_GOAL = (
    "Research the subtopic {subtopic!r} (part of the topic {topic!r}). Use the tools to find facts, "
    "then reply with concise notes and say where each fact came from."
)


def parse_subtopics(text: str, limit: int) -> list[str]:
    """The plan's subtopics: a JSON array if the model gave one, else one subtopic per line."""
    start, end = text.find("["), text.rfind("]")
    items: list[str] = []
    if start != -1 and end > start:
        try:
            items = [str(item) for item in json.loads(text[start : end + 1])]
        except json.JSONDecodeError:
            items = []
    if not items:
        items = [line.strip(" -*\t") for line in text.splitlines() if line.strip(" -*\t")]
    return [item.strip() for item in items if item.strip()][:limit]


@dataclass
class Finding:
    subtopic: str
    notes: str | None = None  # None: not researched (see `error` / `skipped`)
    sources: list[str] = field(default_factory=list)
    error: str | None = None
    skipped: bool = False


@workflow.defn(name="ResearchWorkflow", failure_exception_types=[ValidationError])
class ResearchWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: ResearchInput) -> None:
        self.ctx = RunContext(params, phase="planning")
        self._params = params
        self._summarize_steps = True

    @workflow.run
    async def run(self, params: ResearchInput) -> ResearchResult:
        ctx = self.ctx
        delivery_channel(params.deliver_to)  # a bad target fails the run before any step
        ctx.announce_approvers()
        ctx.set_phase("planning")  # also the stream's first event

        subtopics = await self._tenant_allowing(self._plan(), [])
        ctx.set_phase("researching")
        findings = await self._research_all(subtopics)
        failed = [f for f in findings if f.error is not None]
        if failed and len(failed) == len(findings) and ctx.tenant_refusal is None:
            raise ApplicationError(
                f"all {len(findings)} subtopics failed; first: {failed[0].error}",
                type="AllSubtopicsFailed",
                non_retryable=True,
            )
        result = ResearchResult(
            topic=params.topic,
            report="",
            subtopics=subtopics,
            failed_subtopics=[f.subtopic for f in failed],
            skipped_subtopics=[f.subtopic for f in findings if f.skipped],
            sources=[source for f in findings for source in f.sources],
            tenant=params.tenant,
        )
        if not ctx.budget_spent() and ctx.tenant_refusal is None:
            ctx.set_phase("synthesizing")
            result.report = await self._tenant_allowing(self._synthesize(findings), "")
        if ctx.tenant_refusal is not None:
            result.outcome = TENANT_BUDGET_EXHAUSTED_OUTCOME
            result.report = self._unsynthesized_report(findings, ctx.tenant_refusal)
        elif ctx.budget_spent():
            result.outcome = "budget_exhausted"
            result.report = self._unsynthesized_report(findings)
        else:
            delivered = await approve_and_deliver(
                ctx,
                what="the research report",
                report=result.report,
                deliver_to=params.deliver_to,
                subject=f"Research report: {params.topic[:150]}",
                shown={"topic": params.topic},
                data={
                    "workflow_id": workflow.info().workflow_id,
                    "topic": params.topic,
                    "report": result.report,
                    "subtopics": result.subtopics,
                    "failed_subtopics": result.failed_subtopics,
                    "sources": result.sources,
                    "cost_usd": ctx.cost_usd,
                },
            )
            result.outcome, result.approval, result.delivery = (
                delivered.outcome,
                delivered.approval,
                delivered.receipt,
            )
        await ctx.finish(result.outcome)
        return result.model_copy(update=ctx.totals())

    async def _tenant_allowing(self, step: Awaitable[T], stopped: T) -> T:
        """The step's result; `stopped` when the tenant's budget refused its model call."""
        try:
            return await step
        except ActivityError:
            if self.ctx.tenant_refusal is None:
                raise
            return stopped

    # -- steps -------------------------------------------------------------------------------------

    def _request(self, system: str, text: str, kind: Any, step: str) -> LLMRequest:
        return LLMRequest(
            model=self._params.model,
            system=system,
            messages=[Message.user_text(text)],
            step_kind=kind,
            step=step,
        )

    async def _llm(self, summary: str | None, request: LLMRequest) -> str:
        model = self._params.model or "default model"
        label = f"{summary} (llm {model})" if summary else None
        return (await self.ctx.llm(request, summary=label)).text()

    async def _plan(self) -> list[str]:
        params = self._params
        plan = await self._llm(
            f"plan: {params.topic[:80]}",
            self._request(PLAN_SYSTEM.format(n=params.max_subtopics), params.topic, "plan", "plan"),
        )
        return parse_subtopics(plan, params.max_subtopics) or [params.topic]

    async def _research_all(self, subtopics: list[str]) -> list[Finding]:
        params, ctx = self._params, self.ctx
        # A wide fan-out's steps go without Web UI summaries: each summary is one more payload the
        # SDK encodes per command, a tenth of a 100-step fan-out's time (docs/benchmarks.md).
        self._summarize_steps = len(subtopics) <= SUMMARIZED_FAN_OUT
        slots = asyncio.Semaphore(params.max_parallel)
        child_budget = None
        if params.budget_usd is not None:
            child_budget = max(params.budget_usd - ctx.cost_usd, 0.0) / len(subtopics)

        async def research(index: int, subtopic: str) -> Finding:
            async with slots:
                if ctx.budget_spent() or ctx.tenant_refusal is not None:
                    return Finding(subtopic, skipped=True)  # stop fanning out
                try:
                    if params.depth == "deep":
                        return await self._research_deep(index, subtopic, child_budget)
                    return await self._research_quick(index, subtopic)
                except (ActivityError, ChildWorkflowError) as error:
                    cause = error.cause
                    message = str(getattr(cause, "message", None) or cause or error)[:300]
                    workflow.logger.warning("subtopic %d failed: %s", index + 1, message)
                    return Finding(subtopic, error=message)

        return list(await asyncio.gather(*(research(i, s) for i, s in enumerate(subtopics))))

    async def _research_quick(self, index: int, subtopic: str) -> Finding:
        step = f"research {index + 1}"
        text = f"{subtopic}\n(part of: {self._params.topic})"
        summary = f"{step}: {subtopic[:80]}" if self._summarize_steps else None
        notes = await self.ctx.llm(
            self._request(RESEARCH_SYSTEM, text, "research", step),
            summary=f"{summary} (llm {self._params.model or 'default model'})" if summary else None,
        )
        return Finding(subtopic, notes=notes.text(), sources=[f"model {notes.model}: {subtopic}"])

    async def _research_deep(self, index: int, subtopic: str, budget: float | None) -> Finding:
        params = self._params
        child_id = f"{workflow.info().workflow_id}/research-{index + 1}"
        step = f"research {index + 1} (agent)"
        goal = DEEP_GOAL.format(subtopic=subtopic, topic=params.topic)
        result: AgentResult = await self.ctx.child(
            AgentWorkflow.run,
            AgentInput(
                goal=goal,
                tools=list(READ_ONLY_TOOLS),
                max_iterations=params.deep_max_iterations,
                budget_usd=budget,
                model=params.model,
                tenant=params.tenant,  # the children spend the same tenant's budget
                report_to_parent=True,
            ),
            id=child_id,
            step=step,
            usage_of=lambda r: (r.usage, r.cost_usd, f"{child_id}: {r.outcome} after {r.iterations} steps"),
            static_summary=f"{step}: {subtopic[:80]}",
            # As the starters do for top-level runs: what the run is for, readable in the Web UI.
            memo={
                "input": {"goal": goal[:200], "tools": list(READ_ONLY_TOOLS), "budget_usd": budget},
                "started_by": workflow.info().workflow_id,
            },
        )
        if result.outcome == TENANT_BUDGET_EXHAUSTED_OUTCOME:  # the answer says why, in one line
            self.ctx.tenant_refusal = self.ctx.status.stopped_because = result.answer
            return Finding(subtopic, error=result.answer)
        return Finding(subtopic, notes=result.answer, sources=result.sources)

    async def _synthesize(self, findings: list[Finding]) -> str:
        topic = self._params.topic
        material = "\n".join(f"{f.subtopic}: {f.notes}" for f in findings if f.notes is not None)
        return await self._llm(
            f"synthesize: {topic[:80]}",
            self._request(SYNTHESIZE_SYSTEM, f"Topic: {topic}\n{material}", "synthesize", "synthesize"),
        )

    def _unsynthesized_report(self, findings: list[Finding], refusal: str | None = None) -> str:
        researched = [f for f in findings if f.notes is not None]
        spent = refusal or f"Budget of ${self._params.budget_usd} spent"
        header = (
            f"{spent} after {len(researched)} of {len(findings)} subtopics; synthesis skipped. "
            "Notes gathered so far:"
        )
        return "\n\n".join([header, *(f"## {f.subtopic}\n{f.notes}" for f in researched)])
