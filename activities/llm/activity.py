"""`LLMActivities.complete`: the one activity every workflow uses to call a model."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.llm.call_context import UsageMeter, current_progress, meter_usage
from activities.llm.error_types import UNPRICED_MODEL
from activities.llm.pricing import PriceTable
from activities.llm.providers.base import LLMProvider, reporting_text
from activities.llm.reply_stream import ReplyPublisher
from activities.llm.tracing import llm_call_span
from activities.spend.guard import TenantSpend, worst_case_nanos
from activities.spend.ledger import usd
from activities.spend.rate_limit import RateLimiter
from activities.spend.rate_limit_wait import Slot, take_slot
from common.contracts.llm import (
    LLMRequest,
    LLMResponse,
    ProviderReply,
    SpentUsage,
    TextBlock,
    UnpublishedReply,
)

__all__ = ["LLM_ACTIVITY", "LLM_CALL_CANCELLED", "LLMActivities", "reply_text", "unpriced_model"]

LLM_ACTIVITY = "llm.complete"  # the activity's name: histories, forks and evals find model calls by it
LLM_CALL_CANCELLED = "LLMCallCancelled"  # the workflow cancelled the call: not retried


class LLMActivities:
    """Built once per worker: holds the provider client (connection pool) and the price table."""

    def __init__(
        self,
        provider: LLMProvider,
        prices: PriceTable,
        default_model: str | None = None,
        rate_limiter: RateLimiter | None = None,
        spend: TenantSpend | None = None,
    ):
        self._provider = provider
        self._prices = prices
        self._default_model = default_model or provider.default_model
        self._spend = spend or TenantSpend()  # TENANT_BUDGETS_FILE: reserve before each call
        self._rate_limiter = rate_limiter  # LLM_RATE_LIMITS, shared by every worker

    @activity.defn(name=LLM_ACTIVITY)
    async def complete(self, request: LLMRequest) -> LLMResponse:
        model = request.model or self._default_model
        if (request.require_price or self._spend.applies(request)) and not self._prices.is_priced(model):
            raise unpriced_model(model)
        # The GenAI span (docs/observability.md) times the call and carries usage and cost.
        with llm_call_span(request, model, self._provider.name) as span:
            started = time.monotonic()
            # Stream events feed the progress gate the worker's liveness ticker heartbeats by
            # (worker/liveness.py); without a ticker (a bare worker) each event heartbeats itself.
            progress = current_progress()
            meter = UsageMeter(self._prices, model, progress)
            meter_usage(meter)
            on_event = meter.streaming(progress.saw_event if progress is not None else meter.heartbeat)
            async with AsyncExitStack() as streaming:
                publisher = None
                if request.stream_reply:
                    # Out before the call returns: a client sees the text before the step's end.
                    publisher = await streaming.enter_async_context(
                        ReplyPublisher(request.step, leave_end_to_run=request.run_publishes_reply_end)
                    )
                    streaming.enter_context(reporting_text(publisher.add))
                slot = Slot()
                try:
                    # The model's shared rate limit: wait for this call's turn (never fail for it).
                    keep_alive = progress.restart if progress is not None else meter.heartbeat
                    slot = await take_slot(
                        self._rate_limiter, self._provider.name, model, request, keep_alive
                    )
                    # Then the tenant's worst case is reserved (or refused), settled however the call
                    # ends: after the wait, so that a call waiting its turn holds none of the budget.
                    held = await streaming.enter_async_context(
                        self._spend.hold(request, model, self._prices, meter)
                    )
                    reply = await self._provider.complete(request, model, on_event)
                except ApplicationError as error:
                    await slot.failed(error, meter.state.usage)  # a 429 pauses the model everywhere
                    self._count_unknown_cost(meter, request, model)
                    # Rebuilt, not re-raised: the failure Temporal records stays one small frame deep.
                    raise _with_spent_usage(error, meter.state.spent()) from None
                except asyncio.CancelledError:
                    self._count_unknown_cost(meter, request, model)
                    reason = activity.cancellation_details()
                    if reason is None or not reason.cancel_requested:
                        # The worker is stopping (or the run went away): retried elsewhere, and the
                        # next attempt counts this one from its last heartbeat.
                        raise
                    # The workflow cancelled it (an interrupted session turn): it ends for good, and
                    # reports the tokens used so far, which were billed (a cancellation carries none).
                    raise _with_spent_usage(
                        ApplicationError(
                            "the model call was cancelled", type=LLM_CALL_CANCELLED, non_retryable=True
                        ),
                        meter.state.spent(),
                    ) from None
                await slot.settle(reply.usage)
                held.replied(reply)
                if publisher is not None and not publisher.reported and not publisher.leaves_end_to_run:
                    publisher.add(reply_text(reply))  # a provider that does not stream: all at once
            unpublished = publisher.unpublished(reply_text(reply)) if publisher is not None else None
            response = self._response(reply, meter.earlier, time.monotonic() - started, unpublished)
            span.record(response)
        return response

    def _count_unknown_cost(self, meter: UsageMeter, request: LLMRequest, model: str) -> None:
        """A failed attempt whose stream began but reported no usage counts at the call's worst
        case (the amount a tenant's reservation settles at), not as free. Worked out only then: the
        estimate writes the request's JSON."""
        if meter.cost_unknown:
            worst = worst_case_nanos(self._prices, request, model)
            meter.count_worst_case(usd(worst), self._prices.is_priced(model))

    def _response(
        self,
        reply: ProviderReply,
        earlier: SpentUsage,
        latency_s: float,
        unpublished: UnpublishedReply | None = None,
    ) -> LLMResponse:
        quote = self._prices.quote(reply.model, reply.usage)
        return LLMResponse(
            **reply.model_dump(),
            provider=self._provider.name,
            latency_ms=latency_s * 1000,
            cost_usd=quote.cost_usd + earlier.cost_usd,
            retried_usage=earlier.usage,
            retried_cost_usd=earlier.cost_usd,
            retried_attempts=earlier.attempts,
            priced=quote.priced and earlier.priced,
            unpublished_reply=unpublished,
        )


def reply_text(reply: ProviderReply) -> str:
    """The reply's text, as `LLMResponse.text()` gives it."""
    return "".join(block.text for block in reply.content if isinstance(block, TextBlock))


def unpriced_model(model: str) -> ApplicationError:
    return ApplicationError(
        f"model '{model}' has no price; set LLM_PRICING_FILE to price it",
        {"model": model},
        type=UNPRICED_MODEL,
        non_retryable=True,
    )


def _with_spent_usage(error: ApplicationError, spent: SpentUsage) -> ApplicationError:
    """The classified failure with what every attempt so far spent, for the workflow to count."""
    return ApplicationError(
        error.message,
        *error.details,
        {"spent_usage": spent.model_dump(mode="json")},
        type=error.type,
        non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay,
        category=error.category,
    )
