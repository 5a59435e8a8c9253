"""`LLMActivities.complete`: the one activity every workflow uses to call a model."""

from __future__ import annotations

import time

from temporalio import activity

from activities.llm.call_context import current_progress
from activities.llm.models import LLMRequest, LLMResponse
from activities.llm.pricing import PriceTable
from activities.llm.providers.base import LLMProvider
from activities.llm.tracing import llm_call_span


class LLMActivities:
    """Built once per worker: holds the provider client (connection pool) and the price table."""

    def __init__(self, provider: LLMProvider, prices: PriceTable, default_model: str | None = None):
        self._provider = provider
        self._prices = prices
        self._default_model = default_model or provider.default_model

    @activity.defn(name="llm.complete")
    async def complete(self, request: LLMRequest) -> LLMResponse:
        model = request.model or self._default_model
        # The GenAI span (docs/observability.md) times the call and carries usage and cost.
        with llm_call_span(request, model, self._provider.name) as span:
            started = time.monotonic()
            # Stream events feed the progress gate the worker's liveness ticker heartbeats by
            # (worker/liveness.py); without a ticker (a bare worker) each event heartbeats itself.
            progress = current_progress()
            on_event = progress.saw_event if progress is not None else activity.heartbeat
            reply = await self._provider.complete(request, model, on_event)
            response = LLMResponse(
                **reply.model_dump(),
                provider=self._provider.name,
                latency_ms=(time.monotonic() - started) * 1000,
                cost_usd=self._prices.cost(reply.model, reply.usage),
            )
            span.record(response)
        return response
