"""ResearchWorkflow: plan -> research each subtopic concurrently -> synthesize -> approval gate ->
deliver -> the report with sources, per-step usage and cost.

- `depth="quick"`: one LLM step per subtopic; `depth="deep"`: a child AgentWorkflow per subtopic
  with the read-only tools, whose usage and cost count here (live while it runs, final when it ends).
- At most `max_parallel` subtopics run at once. A subtopic that fails after its retries is listed in
  `failed_subtopics`; only when every subtopic fails does the run fail.
- `budget_usd`: once spent, no further subtopic starts and synthesis is skipped (outcome
  "budget_exhausted"; the notes gathered so far are the report).
- With `approvers`, the report waits for approval before delivery; `deliver_to` is checked before
  anything runs and delivered with the idempotency key `{workflow_id}/deliver`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from pydantic import ValidationError
from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.delivery.models import DeliveryReceipt, DeliveryRequest
    from activities.delivery.targets import parse_target
    from activities.llm.models import LLMRequest, LLMResponse, Message
    from workflows.actions import masked_url, proposed_action
    from workflows.activity_options import DELIVERY, LLM_CALL
    from workflows.agent import READ_ONLY_TOOLS, AgentWorkflow
    from workflows.approval import ApprovalGate, action_hash
    from workflows.handlers import ApprovalAndStatusHandlers
    from workflows.models import (
        AgentInput,
        AgentResult,
        ChildProgress,
        ResearchInput,
        ResearchResult,
        StepRecord,
        WorkflowStatus,
    )
    from workflows.progress import RunProgress

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


def delivery_channel(deliver_to: str | None) -> str | None:
    """The channel of `deliver_to` ("webhook", "email", "file"); a bad target fails the run at once."""
    if deliver_to is None:
        return None
    try:
        return parse_target(deliver_to).channel
    except ValueError as error:
        raise ApplicationError(str(error), type="InvalidInput", non_retryable=True) from None


@dataclass
class Finding:
    subtopic: str
    notes: str | None = None  # None: not researched (see `error` / `skipped`)
    sources: list[str] = field(default_factory=list)
    error: str | None = None
    skipped: bool = False


@workflow.defn(name="ResearchWorkflow", failure_exception_types=[ValidationError])
class ResearchWorkflow(ApprovalAndStatusHandlers):
    @workflow.init
    def __init__(self, params: ResearchInput) -> None:
        self._params = params
        self._progress = RunProgress(
            WorkflowStatus(phase="planning", budget_usd=params.budget_usd), WorkflowStream()
        )
        self._gate = ApprovalGate(params, self._progress)
        self._summarize_steps = True

    @workflow.signal(name="child_progress")
    def child_progress(self, progress: ChildProgress) -> None:
        self._progress.child_running(progress)

    @workflow.run
    async def run(self, params: ResearchInput) -> ResearchResult:
        channel = delivery_channel(params.deliver_to)
        self._progress.announce_approvers(params.approvers)
        self._progress.set_phase("planning")  # also the stream's first event

        subtopics = await self._plan()
        self._progress.set_phase("researching")
        findings = await self._research_all(subtopics)
        failed = [f for f in findings if f.error is not None]
        if failed and len(failed) == len(findings):
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
        )
        if self._progress.budget_spent():
            result.outcome = "budget_exhausted"
            result.report = self._unsynthesized_report(findings)
        else:
            self._progress.set_phase("synthesizing")
            result.report = await self._synthesize(findings)
            await self._approve_and_deliver(result, channel)
        finished = self._finish(result)
        await self._progress.close_stream()
        return finished

    # -- steps -------------------------------------------------------------------------------------

    async def _plan(self) -> list[str]:
        params = self._params
        plan = await self._llm(
            "plan",
            f"plan: {params.topic[:80]}",
            LLMRequest(
                model=params.model,
                system=PLAN_SYSTEM.format(n=params.max_subtopics),
                messages=[Message.user_text(params.topic)],
                step_kind="plan",
                step="plan",
            ),
        )
        return parse_subtopics(plan.text(), params.max_subtopics) or [params.topic]

    async def _research_all(self, subtopics: list[str]) -> list[Finding]:
        params = self._params
        # A wide fan-out's steps go without Web UI summaries: each summary is one more payload the
        # SDK encodes per command (~0.35 ms), a tenth of a 100-step fan-out's time (docs/benchmarks.md).
        # The step label stays in each request (`step`) and in `status`.
        self._summarize_steps = len(subtopics) <= SUMMARIZED_FAN_OUT
        slots = asyncio.Semaphore(params.max_parallel)
        child_budget = None
        if params.budget_usd is not None:
            child_budget = max(params.budget_usd - self._progress.cost_usd, 0.0) / len(subtopics)

        async def research(index: int, subtopic: str) -> Finding:
            async with slots:
                if self._progress.budget_spent():
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
        params = self._params
        step = f"research {index + 1}"
        notes = await self._llm(
            step,
            f"{step}: {subtopic[:80]}" if self._summarize_steps else None,
            LLMRequest(
                model=params.model,
                system=RESEARCH_SYSTEM,
                messages=[Message.user_text(f"{subtopic}\n(part of: {params.topic})")],
                step_kind="research",
                step=step,
            ),
        )
        return Finding(subtopic, notes=notes.text(), sources=[f"model {notes.model}: {subtopic}"])

    async def _research_deep(self, index: int, subtopic: str, budget: float | None) -> Finding:
        params = self._params
        child_id = f"{workflow.info().workflow_id}/research-{index + 1}"
        step = f"research {index + 1} (agent)"
        goal = DEEP_GOAL.format(subtopic=subtopic, topic=params.topic)
        try:
            result: AgentResult = await workflow.execute_child_workflow(
                AgentWorkflow.run,
                AgentInput(
                    goal=goal,
                    tools=list(READ_ONLY_TOOLS),
                    max_iterations=params.deep_max_iterations,
                    budget_usd=budget,
                    model=params.model,
                    report_to_parent=True,
                ),
                id=child_id,
                static_summary=f"{step}: {subtopic[:80]}",
                # As the starters do for top-level runs: what the run is for, readable in the Web UI.
                memo={
                    "input": {"goal": goal[:200], "tools": list(READ_ONLY_TOOLS), "budget_usd": budget},
                    "started_by": workflow.info().workflow_id,
                },
            )
        except ChildWorkflowError:
            self._progress.child_finished(child_id, StepRecord(step=step, kind="child", ok=False))
            raise
        self._progress.child_finished(
            child_id,
            StepRecord(
                step=step,
                kind="child",
                input_tokens=result.usage.input_tokens,
                output_tokens=result.usage.output_tokens,
                cache_read_tokens=result.usage.cache_read_tokens,
                cache_write_tokens=result.usage.cache_write_tokens,
                cost_usd=result.cost_usd,
                detail=f"{child_id}: {result.outcome} after {result.iterations} steps",
            ),
        )
        return Finding(subtopic, notes=result.answer, sources=result.sources)

    async def _synthesize(self, findings: list[Finding]) -> str:
        params = self._params
        material = "\n".join(f"{f.subtopic}: {f.notes}" for f in findings if f.notes is not None)
        report = await self._llm(
            "synthesize",
            f"synthesize: {params.topic[:80]}",
            LLMRequest(
                model=params.model,
                system=SYNTHESIZE_SYSTEM,
                messages=[Message.user_text(f"Topic: {params.topic}\n{material}")],
                step_kind="synthesize",
                step="synthesize",
            ),
        )
        return report.text()

    async def _approve_and_deliver(self, result: ResearchResult, channel: str | None) -> None:
        params = self._params
        if self._gate.can_approve:
            arguments = {"topic": params.topic, "report": result.report}
            shown: dict[str, str] = {}
            if channel and params.deliver_to:
                arguments["deliver_to"] = params.deliver_to
                shown["deliver_to"] = masked_url(params.deliver_to)
            action = proposed_action(
                "delivery",
                channel or "result",
                arguments,
                verb=f"Deliver the research report by {channel}" if channel else None,
                shown=shown,
            )
            if not channel:
                action.title = "Deliver the research report as the workflow result (no delivery target)"
            digest = action_hash("deliver", {"target": params.deliver_to, "report": result.report})
            result.approval = await self._gate.request(action, digest)
            if not result.approval.approved:
                result.outcome = "rejected"
                return
        if channel is None or params.deliver_to is None:
            return
        self._progress.set_phase("delivering")
        request = DeliveryRequest(
            target=params.deliver_to,
            idempotency_key=f"{workflow.info().workflow_id}/deliver",
            subject=f"Research report: {params.topic[:150]}",
            body=result.report,
            data={
                "workflow_id": workflow.info().workflow_id,
                "topic": params.topic,
                "report": result.report,
                "subtopics": result.subtopics,
                "failed_subtopics": result.failed_subtopics,
                "sources": result.sources,
                "cost_usd": self._progress.cost_usd,
            },
        )
        try:
            receipt: DeliveryReceipt = await workflow.execute_activity(
                "delivery.deliver",
                request,
                result_type=DeliveryReceipt,
                summary=f"deliver {channel}",
                **DELIVERY.kwargs(),
            )
        except ActivityError as error:
            # The report is not lost: it is the result; the outcome says delivery did not happen.
            result.outcome = "delivery_failed"
            self._progress.record(
                StepRecord(step="deliver", kind="delivery", ok=False, detail=str(error.cause or error)[:300])
            )
            return
        result.delivery = receipt
        detail = f"{receipt.channel} {receipt.detail}" + (" (duplicate)" if receipt.duplicate else "")
        self._progress.record(StepRecord(step="deliver", kind="delivery", detail=detail.strip()))

    def _finish(self, result: ResearchResult) -> ResearchResult:
        status = self._progress.status
        status.outcome = result.outcome
        self._progress.set_phase("completed")
        return result.model_copy(
            update={"steps": status.completed_steps, "usage": status.usage, "cost_usd": status.cost_usd}
        )

    def _unsynthesized_report(self, findings: list[Finding]) -> str:
        researched = [f for f in findings if f.notes is not None]
        header = (
            f"Budget of ${self._params.budget_usd} spent after {len(researched)} of {len(findings)} "
            "subtopics; synthesis skipped. Notes gathered so far:"
        )
        return "\n\n".join([header, *(f"## {f.subtopic}\n{f.notes}" for f in researched)])

    async def _llm(self, step: str, summary: str | None, request: LLMRequest) -> LLMResponse:
        model = self._params.model or "default model"
        response: LLMResponse = await workflow.execute_activity(
            "llm.complete",
            request,
            result_type=LLMResponse,
            summary=f"{summary} (llm {model})" if summary else None,
            **LLM_CALL.kwargs(),
        )
        self._progress.record_llm(step, response)
        return response
