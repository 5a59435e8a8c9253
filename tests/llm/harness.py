"""Runs `LLMCallWorkflow` on a worker built from settings, and reads what happened."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

from activities.llm.models import LLMRequest, LLMResponse, Message
from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.llm.call_workflow import LLMCallInput, LLMCallWorkflow
from worker.app import build_worker


@dataclass
class CallOutcome:
    workflow_id: str
    response: LLMResponse | None
    failure: BaseException | None  # the ActivityError's cause when the call failed
    attempts: int  # activity attempts, from the workflow history


def simple_request(text: str = "Say hello", step: str = "step", **fields: object) -> LLMRequest:
    return LLMRequest(messages=[Message.user_text(text)], step=step, **fields)


async def run_call(client: Client, settings: Settings, params: LLMCallInput) -> CallOutcome:
    [outcome] = await run_calls(client, settings, [params])
    return outcome


def short_windows(settings: Settings, *, first_byte_s: float = 30.0, stall_s: float = 0.5) -> Settings:
    """Stream windows short enough for a test (LLM_FIRST_BYTE_TIMEOUT_S, LLM_STALL_TIMEOUT_S)."""
    return settings.model_copy(
        update={"llm_first_byte_timeout_s": first_byte_s, "llm_stall_timeout_s": stall_s}
    )


async def run_stalling_call(
    client: Client,
    settings: Settings,
    server: AnthropicServer,
    *,
    first_byte_s: float = 30.0,
    maximum_attempts: int | None = None,
) -> CallOutcome:
    """One call to a server scripted to stall: short stream windows and a 1 s heartbeat timeout.
    The stalled responses are released afterwards, whatever the outcome."""
    try:
        return await run_call(
            client,
            short_windows(settings, first_byte_s=first_byte_s),
            LLMCallInput(request=simple_request(), heartbeat_timeout_s=1, maximum_attempts=maximum_attempts),
        )
    finally:
        server.release()


async def run_calls(client: Client, settings: Settings, calls: list[LLMCallInput]) -> list[CallOutcome]:
    """Each call in its own workflow, all running at once on one worker (one worker for many cases).

    Results are awaited one after another, never with `gather`: on the time-skipping server each
    awaited result unlocks time skipping, and concurrent unlocks let it skip time while activities
    are still running (their start-to-close timeouts then fire, and attempts are retried)."""
    # No graceful shutdown: an attempt abandoned after a heartbeat timeout is cancelled at once
    # instead of holding the worker open until its stalled stream times out.
    settings = settings.model_copy(update={"worker_graceful_shutdown_s": 0.0})
    async with build_worker(client, settings, workflows=[LLMCallWorkflow]):
        handles = [
            await client.start_workflow(
                LLMCallWorkflow.run,
                params,
                id=f"llm-call-{uuid.uuid4().hex[:10]}",
                task_queue=settings.temporal_task_queue,
            )
            for params in calls
        ]
        return [await _outcome(handle) for handle in handles]


async def _outcome(handle: WorkflowHandle[LLMCallWorkflow, LLMResponse]) -> CallOutcome:
    try:
        response: LLMResponse | None = await handle.result()
        failure: BaseException | None = None
    except WorkflowFailureError as error:
        assert isinstance(error.cause, ActivityError), error.cause
        response, failure = None, error.cause.cause
    return CallOutcome(handle.id, response, failure, await _attempts(handle))


async def _attempts(handle: WorkflowHandle[LLMCallWorkflow, LLMResponse]) -> int:
    """The attempt number Temporal recorded for the (last) activity attempt."""
    history = await handle.fetch_history()
    started = [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.HasField("activity_task_started_event_attributes")
    ]
    return max(started, default=0)


def application_failure(outcome: CallOutcome) -> ApplicationError:
    assert isinstance(outcome.failure, ApplicationError), outcome.failure
    return outcome.failure


def timeout_failure(outcome: CallOutcome) -> TimeoutError:
    assert isinstance(outcome.failure, TimeoutError), outcome.failure
    return outcome.failure
