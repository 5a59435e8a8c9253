"""A budget is a limit only if every call has a price: a run with `budget_usd` on a model the price
table does not know fails at its first step with one typed line naming the model and the setting
that prices it; without a budget the run goes on and says its cost is unpriced."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from activities.llm.activity import LLMActivities
from activities.llm.models import ProviderReply, TextBlock, Usage
from activities.llm.pricing import PriceTable
from common.settings import Settings
from starter.render import cost_text
from tests.workflow.doubles import Recorder
from tests.workflow.support import worker_with
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput

UNKNOWN = "house-model-7b"


class HouseModel:
    """A provider whose model the price table does not know, behind the real LLM activity (which
    prices, or refuses, by model name)."""

    name = "house"
    default_model = UNKNOWN

    async def complete(self, request: object, model: str, on_event: object) -> ProviderReply:
        return ProviderReply(
            content=[TextBlock(text="answer")],
            stop_reason="end_turn",
            usage=Usage(input_tokens=10, output_tokens=5),
            model=model,
        )


def llm_with_unknown_model() -> LLMActivities:
    return LLMActivities(HouseModel(), PriceTable.load(None))  # type: ignore[arg-type]


async def test_a_budget_on_an_unpriced_model_fails_at_the_first_step(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    params = AgentInput(goal="anything", tools=[], budget_usd=1.0, model=UNKNOWN)
    async with worker_with(
        ts_client, settings, [llm_with_unknown_model().complete, *Recorder().activities()]
    ):
        handle = await ts_client.start_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    error = cause.cause
    assert error.type == "UnpricedModel" and error.non_retryable
    assert UNKNOWN in error.message and "LLM_PRICING_FILE" in error.message and "\n" not in error.message
    history = await handle.fetch_history()
    attempts = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
    assert [e.activity_task_started_event_attributes.attempt for e in attempts] == [1]


async def test_without_a_budget_the_cost_is_unpriced_not_zero(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    params = AgentInput(goal="anything", tools=[], model=UNKNOWN)
    async with worker_with(
        ts_client, settings, [llm_with_unknown_model().complete, *Recorder().activities()]
    ):
        result = await ts_client.execute_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
        )
    assert result.outcome == "completed" and result.cost_usd == 0.0
    assert [step.priced for step in result.steps] == [False]
    assert "unpriced" in cost_text(result.cost_usd, result.steps)
