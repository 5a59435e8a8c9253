"""ResearchWorkflow: plan -> research each subtopic concurrently -> synthesize -> result."""

from __future__ import annotations

import asyncio
import json

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.llm.activity import LLMActivities
    from activities.llm.models import LLMRequest, LLMResponse, Message
    from workflows.activity_options import LLM_CALL
    from workflows.models import (
        ResearchInput,
        ResearchResult,
        StepRecord,
        UsageTotals,
        WorkflowStatus,
    )

PLAN_SYSTEM = (
    "You plan research. Reply with only a JSON array of at most {n} short subtopic strings "
    "that together cover the topic."
)
RESEARCH_SYSTEM = "You research one subtopic of a larger topic. Reply with concise factual notes."
SYNTHESIZE_SYSTEM = "You write a short report from research notes. Keep the structure clear."


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


@workflow.defn(name="ResearchWorkflow")
class ResearchWorkflow:
    def __init__(self) -> None:
        self._status = WorkflowStatus(phase="planning")

    @workflow.query(name="status")
    def status(self) -> WorkflowStatus:
        return self._status

    @workflow.run
    async def run(self, params: ResearchInput) -> ResearchResult:
        plan = await self._llm(
            "plan",
            LLMRequest(
                model=params.model,
                system=PLAN_SYSTEM.format(n=params.max_subtopics),
                messages=[Message.user_text(params.topic)],
                step_kind="plan",
                step="plan",
            ),
        )
        subtopics = parse_subtopics(plan.text(), params.max_subtopics) or [params.topic]

        self._status.phase = "researching"
        notes = await asyncio.gather(
            *(
                self._llm(
                    f"research {i + 1}",
                    LLMRequest(
                        model=params.model,
                        system=RESEARCH_SYSTEM,
                        messages=[Message.user_text(f"{subtopic}\n(part of: {params.topic})")],
                        step_kind="research",
                        step=f"research {i + 1}",
                    ),
                )
                for i, subtopic in enumerate(subtopics)
            )
        )

        self._status.phase = "synthesizing"
        material = "\n".join(f"{s}: {n.text()}" for s, n in zip(subtopics, notes, strict=True))
        report = await self._llm(
            "synthesize",
            LLMRequest(
                model=params.model,
                system=SYNTHESIZE_SYSTEM,
                messages=[Message.user_text(f"Topic: {params.topic}\n{material}")],
                step_kind="synthesize",
                step="synthesize",
            ),
        )
        self._status.phase = "completed"
        return ResearchResult(
            topic=params.topic,
            report=report.text(),
            subtopics=subtopics,
            steps=self._status.completed_steps,
            usage=self._status.usage,
            cost_usd=self._status.cost_usd,
        )

    async def _llm(self, step: str, request: LLMRequest) -> LLMResponse:
        response = await workflow.execute_activity_method(
            LLMActivities.complete, request, summary=f"{step}: llm", **LLM_CALL.kwargs()
        )
        self._record(step, response)
        return response

    def _record(self, step: str, response: LLMResponse) -> None:
        usage = response.usage
        self._status.completed_steps.append(
            StepRecord(
                step=step,
                kind="llm",
                model=response.model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_input_tokens,
                cache_write_tokens=usage.cache_creation_input_tokens,
                latency_ms=response.latency_ms,
                cost_usd=response.cost_usd,
            )
        )
        totals = self._status.usage
        self._status.usage = UsageTotals(
            input_tokens=totals.input_tokens + usage.input_tokens,
            output_tokens=totals.output_tokens + usage.output_tokens,
            cache_read_tokens=totals.cache_read_tokens + usage.cache_read_input_tokens,
            cache_write_tokens=totals.cache_write_tokens + usage.cache_creation_input_tokens,
        )
        self._status.cost_usd += response.cost_usd
