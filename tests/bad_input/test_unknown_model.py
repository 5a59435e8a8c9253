"""An unknown model name. The starter cannot know a provider's catalog, so the provider decides: its
404 is classified `LLMNotFound`, non-retryable (activities/llm/errors.py), and the run fails on its
first LLM step after one request. The offline model has no catalog: it answers under any name."""

from __future__ import annotations

import time

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Worker

from common.settings import Settings
from starter import api
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Fail
from worker.app import build_worker
from workflows.models import AgentInput, ResearchInput


async def test_a_model_the_provider_does_not_know_fails_the_run_on_the_first_request(
    product_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.script(Fail(404, "not_found_error", "model: claude-nope"))
    task_queue = anthropic_settings.temporal_task_queue
    started = time.monotonic()
    async with build_worker(product_client, anthropic_settings):
        handle = await api.start_research(
            product_client, ResearchInput(topic="tides", model="claude-nope"), task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        with pytest.raises(api.StarterError) as shown:  # what `python -m starter ... --wait` prints
            await api.get_result(product_client, handle.id)
    assert time.monotonic() - started < 15

    cause = failure.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert (cause.cause.type, cause.cause.non_retryable) == ("LLMNotFound", True)
    assert "claude-nope" in cause.cause.message
    line = str(shown.value)
    assert "\n" not in line and "the run failed" in line and "claude-nope" in line, line

    assert [r.body["model"] for r in anthropic_server.requests] == ["claude-nope"]  # no retry
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    history = await handle.fetch_history()
    assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]


async def test_the_offline_model_answers_under_any_name(
    product_client: Client, offline_worker: Worker, task_queue: str
) -> None:
    handle = await api.start_agent(
        product_client, AgentInput(goal="What is 6 * 7?", model="any-model-name"), task_queue=task_queue
    )
    result = await handle.result()
    assert result.outcome == "completed" and "42" in result.answer
    assert {step.model for step in result.steps if step.kind == "llm"} == {"any-model-name"}
