"""The floor: the same shapes written directly on the Temporal SDK, with the same activities
(`llm.complete` on the bench model, the real `tool.calculator`) and none of the product's
bookkeeping (no status, search attributes, budget, approvals, external storage, tracing plugin).

`BaselineAgent` is the naive design: the whole transcript inline in every `llm.complete` input
(`transcript="full"`), or only the newest messages (`"new"`, for runs too long for the naive
history). `BaselineResearch` is plan -> every research step at once -> synthesize.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

from bench.session_baseline import BaselineSession

with workflow.unsafe.imports_passed_through():
    from activities.kit import registry
    from activities.tools.calculator import CalculatorInput
    from common.contracts.llm import LLMRequest, LLMResponse, Message, StepKind, ToolResultBlock
    from common.contracts.tools import ToolObservation

SYSTEM = "You are a careful agent. Call tools when they help."


class BaselineAgentInput(BaseModel):
    goal: str
    iterations: int
    transcript: str = "full"  # "full" or "new"
    # Tuned crash recovery: the model heartbeats, so a dead worker's call times out after this.
    heartbeat_timeout_s: float = 1.0


class BaselineResearchInput(BaseModel):
    topic: str
    subtopics: int


class BaselineReport(BaseModel):
    """What a research run is for, and no more: the report and what it covered."""

    report: str
    subtopics: list[str]


LLM_START_TO_CLOSE = timedelta(minutes=5)
LLM_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200))


@workflow.defn(name="BaselineAgent")
class BaselineAgent:
    @workflow.run
    async def run(self, params: BaselineAgentInput) -> str:
        tools = [registry["calculator"].spec()]
        messages = [Message.user_text(params.goal)]
        sent = 0
        for step in range(1, params.iterations + 1):
            request = LLMRequest(
                system=SYSTEM,
                messages=messages if params.transcript == "full" else messages[sent:],
                tools=tools,
                step_kind="agent",
                step=f"agent step {step}",
            )
            sent = len(messages)
            response: LLMResponse = await workflow.execute_activity(
                "llm.complete",
                request,
                result_type=LLMResponse,
                start_to_close_timeout=LLM_START_TO_CLOSE,
                heartbeat_timeout=timedelta(seconds=params.heartbeat_timeout_s),
                retry_policy=LLM_RETRY,
            )
            messages.append(Message(role="assistant", content=response.content))
            if step == params.iterations:
                break
            calls = response.tool_calls()
            observations = await asyncio.gather(
                *(
                    workflow.execute_activity(
                        "tool.calculator",
                        CalculatorInput.model_validate(call.input),
                        result_type=ToolObservation,
                        start_to_close_timeout=timedelta(seconds=30),
                    )
                    for call in calls
                )
            )
            messages.append(
                Message(
                    role="user",
                    content=[
                        ToolResultBlock(tool_use_id=call.id, content=obs.content, is_error=obs.is_error)
                        for call, obs in zip(calls, observations, strict=True)
                    ],
                )
            )
        return response.text()  # the answer, as the product returns its answer


@workflow.defn(name="BaselineResearch")
class BaselineResearch:
    @workflow.run
    async def run(self, params: BaselineResearchInput) -> BaselineReport:
        plan = await self._llm(
            "plan", f"Reply with a JSON array of at most {params.subtopics} subtopics.", params.topic
        )
        subtopics = [str(item) for item in json.loads(plan.text())]
        notes = await asyncio.gather(
            *(self._llm("research", "Research one subtopic.", subtopic) for subtopic in subtopics)
        )
        material = "\n".join(note.text() for note in notes)
        report = await self._llm("synthesize", "Write a report.", f"{params.topic}\n{material}")
        return BaselineReport(report=report.text(), subtopics=subtopics)

    async def _llm(self, kind: StepKind, system: str, text: str) -> LLMResponse:
        request = LLMRequest(system=system, messages=[Message.user_text(text)], step_kind=kind, step=kind)
        response: LLMResponse = await workflow.execute_activity(
            "llm.complete",
            request,
            result_type=LLMResponse,
            start_to_close_timeout=LLM_START_TO_CLOSE,
            retry_policy=LLM_RETRY,
        )
        return response


BASELINE_WORKFLOWS = [BaselineAgent, BaselineResearch, BaselineSession]
