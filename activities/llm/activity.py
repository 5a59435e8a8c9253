"""`LLMActivities.complete`: the one activity every workflow uses to call a model."""

from __future__ import annotations

import time

from temporalio import activity

from activities.llm.models import LLMRequest, LLMResponse
from activities.llm.pricing import PriceTable
from activities.llm.providers.base import LLMProvider


class LLMActivities:
    """Built once per worker: holds the provider client (connection pool) and the price table."""

    def __init__(self, provider: LLMProvider, prices: PriceTable, default_model: str | None = None):
        self._provider = provider
        self._prices = prices
        self._default_model = default_model or provider.default_model

    @activity.defn(name="llm.complete")
    async def complete(self, request: LLMRequest) -> LLMResponse:
        model = request.model or self._default_model
        started = time.monotonic()
        reply = await self._provider.complete(request, model, activity.heartbeat)
        return LLMResponse(
            **reply.model_dump(),
            provider=self._provider.name,
            latency_ms=(time.monotonic() - started) * 1000,
            cost_usd=self._prices.cost(reply.model, reply.usage),
        )
