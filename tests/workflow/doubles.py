"""Test doubles of single activities, registered under the real activity names, so the workflow tests
exercise orchestration (order, concurrency, keys, error paths) on the time-skipping server. The LLM
is the real offline provider unless a test needs a scripted or failing model."""

from __future__ import annotations

import ast
import asyncio
import operator
from collections.abc import Callable, Sequence
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery.models import DeliveryReceipt, DeliveryRequest
from activities.llm.activity import LLMActivities
from activities.llm.models import ContentBlock, LLMRequest, LLMResponse, TextBlock, ToolUseBlock, Usage
from activities.llm.pricing import PriceTable
from activities.llm.providers.offline import OfflineProvider
from activities.tools.calculator import CalculatorInput
from activities.tools.current_time import CurrentTimeInput
from activities.tools.http_get import HttpGetInput
from activities.tools.models import SideEffectToolInput, ToolObservation
from activities.tools.search_docs import SearchDocsInput
from workflows.models import EscalationNotice

_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return float(_OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right)))
    raise ValueError("unsupported expression")


class Recorder:
    """Read-only tool, side-effect tool, delivery and escalation doubles that record their inputs."""

    def __init__(self) -> None:
        self.calculations: list[str] = []
        self.searches: list[str] = []
        self.side_effects: list[tuple[str, SideEffectToolInput]] = []
        self.deliveries: list[DeliveryRequest] = []
        self.escalations: list[EscalationNotice] = []

    @activity.defn(name="tool.calculator")
    async def calculator(self, args: CalculatorInput) -> ToolObservation:
        self.calculations.append(args.expression)
        try:
            value = _evaluate(ast.parse(args.expression, mode="eval"))
        except (SyntaxError, ValueError, ZeroDivisionError) as error:
            return ToolObservation(content=f"cannot evaluate: {error}", is_error=True)
        return ToolObservation(content=f"{value:g}")

    @activity.defn(name="tool.search_docs")
    async def search_docs(self, args: SearchDocsInput) -> ToolObservation:
        self.searches.append(args.query)
        return ToolObservation(content=f"notes.md: a passage about {args.query}")

    @activity.defn(name="tool.current_time")
    async def current_time(self, args: CurrentTimeInput) -> ToolObservation:
        return ToolObservation(content=f"2030-01-01T00:00:00 {args.timezone}")

    @activity.defn(name="tool.http_get")
    async def http_get(self, args: HttpGetInput) -> ToolObservation:
        return ToolObservation(content=f"host of {args.url} is not allowed", is_error=True)

    @activity.defn(name="tool.send_webhook")
    async def send_webhook(self, request: SideEffectToolInput) -> ToolObservation:
        self.side_effects.append(("send_webhook", request))
        return ToolObservation(content="HTTP 200")

    @activity.defn(name="tool.send_email")
    async def send_email(self, request: SideEffectToolInput) -> ToolObservation:
        self.side_effects.append(("send_email", request))
        return ToolObservation(content="250 queued")

    @activity.defn(name="delivery.deliver")
    async def deliver(self, request: DeliveryRequest) -> DeliveryReceipt:
        self.deliveries.append(request)
        channel = {"http": "webhook", "https": "webhook", "mailto": "email", "file": "file"}
        return DeliveryReceipt(
            target=request.target,
            idempotency_key=request.idempotency_key,
            channel=channel[request.target.split(":", 1)[0]],
            detail="recorded",
        )

    @activity.defn(name="approval.notify_escalation")
    async def notify_escalation(self, notice: EscalationNotice) -> None:
        self.escalations.append(notice)

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.calculator,
            self.search_docs,
            self.current_time,
            self.http_get,
            self.send_webhook,
            self.send_email,
            self.deliver,
            self.notify_escalation,
        ]


def offline_llm() -> LLMActivities:
    return LLMActivities(OfflineProvider(), PriceTable.load())


class FailingResearchModel:
    """The offline model, except that research steps whose subtopic contains `fail_on` fail
    non-retryably (as a provider's 400 would) and research steps may be slowed to observe overlap."""

    def __init__(self, fail_on: Sequence[str], research_delay_s: float = 0.0) -> None:
        self._offline = offline_llm()
        self._fail_on = tuple(fail_on)
        self._delay = research_delay_s
        self.in_flight = 0
        self.max_in_flight = 0

    @activity.defn(name="llm.complete")
    async def complete(self, request: LLMRequest) -> LLMResponse:
        if request.step_kind != "research":
            return await self._offline.complete(request)
        text = request.messages[0].content[0]
        assert isinstance(text, TextBlock)
        if any(marker in text.text.splitlines()[0] for marker in self._fail_on):
            raise ApplicationError("model refused the request", type="InvalidRequest", non_retryable=True)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._delay:
                await asyncio.sleep(self._delay)  # stands for the model's latency
            return await self._offline.complete(request)
        finally:
            self.in_flight -= 1


class ScriptedModel:
    """Answers agent steps from a script (one list of content blocks per turn) and keeps every
    request, so a test can read exactly what the workflow sent back to the model."""

    def __init__(self, turns: list[list[ContentBlock]]) -> None:
        self._turns = turns
        self.requests: list[LLMRequest] = []

    @activity.defn(name="llm.complete")
    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        turn = self._turns[min(len(self.requests), len(self._turns)) - 1]
        calls = any(isinstance(block, ToolUseBlock) for block in turn)
        return LLMResponse(
            content=turn,
            stop_reason="tool_use" if calls else "end_turn",
            usage=Usage(input_tokens=100, output_tokens=20),
            model="scripted",
            provider="scripted",
            latency_ms=1.0,
            cost_usd=0.001,
        )
