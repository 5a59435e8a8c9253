"""True cost: an attempt that fails after the provider started work is billed, so it is counted. Each
attempt's usage so far is in its heartbeat details; the next attempt reads them, and the reply (or
the final failure) reports every attempt's usage and cost. Over the local Messages-API and
OpenAI-compatible servers, on a real worker with Temporal's own retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.llm import error_types
from activities.llm.models import Usage, spent_usage_of
from activities.llm.pricing import PriceTable
from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.openai_server import OpenAIServer
from tests.fakes.scripted_server import Fail, Malformed, Reply, SseEvent, Stall, Truncate
from tests.llm.call_workflow import LLMCallInput
from tests.llm.harness import (
    application_failure,
    run_call,
    run_calls,
    run_stalling_call,
    simple_request,
    timeout_failure,
)

MODEL = "claude-haiku-4-5"
CUT = Usage(input_tokens=5000, output_tokens=1, cache_read_tokens=2000)
ANSWER = Usage(input_tokens=5000, output_tokens=300, cache_read_tokens=2000)
PRICES = PriceTable.load(provider_id="anthropic")


def _reply(usage: Usage) -> Reply:
    return Reply.text("The answer.", usage=usage, model=MODEL)


async def test_a_stream_cut_after_message_start_is_counted_with_the_retry(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    # message_start (input billed, output 1), then the connection ends.
    anthropic_server.script(Truncate(after_events=1, reply=_reply(CUT)), _reply(ANSWER))

    outcome = await run_call(ts_client, anthropic_settings, LLMCallInput(request=simple_request()))

    response = outcome.response
    assert response is not None and outcome.attempts == 2
    assert response.usage == ANSWER
    assert response.retried_usage == CUT
    assert response.retried_attempts == 1
    assert response.retried_cost_usd == pytest.approx(PRICES.cost(MODEL, CUT))
    assert response.cost_usd == pytest.approx(PRICES.cost(MODEL, CUT) + PRICES.cost(MODEL, ANSWER))
    assert response.priced


async def test_a_stall_after_partial_output_is_counted_with_the_retry(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    """The heartbeat timeout ends the stalled attempt: its last heartbeat's usage is what counts."""
    anthropic_server.script(Stall(after_events=4, reply=_reply(CUT)), _reply(ANSWER))
    outcome = await run_stalling_call(ts_client, anthropic_settings, anthropic_server)

    response = outcome.response
    assert response is not None and outcome.attempts == 2
    assert response.retried_usage == CUT
    assert response.cost_usd == pytest.approx(PRICES.cost(MODEL, CUT) + PRICES.cost(MODEL, ANSWER))


async def test_when_every_attempt_fails_the_failure_carries_the_spent_usage(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.script(*(Truncate(after_events=1, reply=_reply(CUT)) for _ in range(3)), step="cut")
    anthropic_server.script(
        Truncate(after_events=1, reply=_reply(CUT)),
        Fail(400, "invalid_request_error", "messages: bad"),
        step="refused",
    )

    cut, refused = await run_calls(
        ts_client,
        anthropic_settings,
        [
            LLMCallInput(request=simple_request(step="cut"), maximum_attempts=3),
            LLMCallInput(request=simple_request(step="refused")),
        ],
    )

    # What the workflow sees: the ActivityError's cause, an ApplicationError whose details say
    # what all attempts spent.
    error = application_failure(cut)
    assert error.type == error_types.INVALID_RESPONSE
    spent = spent_usage_of(error)
    assert spent is not None
    assert (spent.usage, spent.attempts, spent.priced) == (CUT + CUT + CUT, 3, True)
    assert spent.cost_usd == pytest.approx(3 * PRICES.cost(MODEL, CUT))

    # A non-retryable error ends the call early: the attempt before it still counts.
    error = application_failure(refused)
    assert (error.type, refused.attempts) == (error_types.BAD_REQUEST, 2)
    spent = spent_usage_of(error)
    assert spent is not None and (spent.usage, spent.attempts) == (CUT, 2)


async def test_a_final_stall_carries_the_spent_usage_in_its_last_heartbeat(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.script(Stall(after_events=4, reply=_reply(CUT)))
    outcome = await run_stalling_call(ts_client, anthropic_settings, anthropic_server, maximum_attempts=1)

    spent = spent_usage_of(timeout_failure(outcome))
    assert spent is not None and (spent.usage, spent.attempts) == (CUT, 1)


async def test_an_unpriced_model_with_and_without_require_price(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.script(Reply.text("ok", usage=ANSWER), step="free")
    required, plain = await run_calls(
        ts_client,
        anthropic_settings,
        [
            LLMCallInput(request=simple_request(step="budgeted", model="house-model-7", require_price=True)),
            LLMCallInput(request=simple_request(step="free", model="house-model-7")),
        ],
    )

    error = application_failure(required)
    assert (error.type, error.non_retryable, required.attempts) == (error_types.UNPRICED_MODEL, True, 1)
    assert error.message == "model 'house-model-7' has no price; set LLM_PRICING_FILE to price it"
    assert not anthropic_server.requests_for("budgeted")  # refused before the provider was called

    response = plain.response
    assert response is not None
    assert (response.priced, response.cost_usd) == (False, 0.0)
    assert response.usage == ANSWER  # the tokens still count


def _error_instead_of_done(events: list[SseEvent]) -> list[SseEvent]:
    """Usage reported, then an overloaded error where `[DONE]` should be."""
    overloaded = {"error": {"message": "overloaded", "type": "overloaded_error", "code": "529"}}
    return [*events[:-1], (None, overloaded)]


async def test_openai_compatible_stream_usage_of_a_failed_attempt_is_counted(
    ts_client: Client, openai_settings: Settings, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"llama3.1": {"input": 0.5, "output": 1.5, "cache_write": 0.0, "cache_read": 0.25}})
    )
    settings = openai_settings.model_copy(update={"llm_pricing_file": prices})
    first = Usage(input_tokens=800, output_tokens=40, cache_read_tokens=100)
    second = Usage(input_tokens=800, output_tokens=60, cache_read_tokens=100)
    openai_server.script(
        Malformed(_error_instead_of_done, reply=Reply.text("partial", usage=first)),
        Reply.text("whole", usage=second),
        step="priced",
    )
    openai_server.script(Reply.text("ok", usage=second), step="unpriced")

    priced, unpriced, required = await run_calls(
        ts_client,
        settings,
        [
            LLMCallInput(request=simple_request(step="priced")),
            LLMCallInput(request=simple_request(step="unpriced", model="mystery-7b")),
            LLMCallInput(request=simple_request(step="required", model="mystery-7b", require_price=True)),
        ],
    )

    response = priced.response
    assert response is not None and priced.attempts == 2
    assert (response.usage, response.retried_usage, response.retried_attempts) == (second, first, 1)
    table = PriceTable.load(prices)
    assert response.cost_usd == pytest.approx(table.cost("llama3.1", first) + table.cost("llama3.1", second))
    assert unpriced.response is not None and not unpriced.response.priced
    assert application_failure(required).type == error_types.UNPRICED_MODEL
