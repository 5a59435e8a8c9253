"""USD prices per million tokens, per model; `LLM_PRICING_FILE` (JSON) adds or overrides models."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from activities.llm.models import Usage


class ModelPrice(BaseModel):
    input: float
    output: float
    cache_write: float
    cache_read: float


# Anthropic list prices (USD per million tokens; platform.claude.com pricing and model pages). Cache
# writes are the 5-minute TTL rate. A dated snapshot (claude-haiku-4-5-20251001) matches its prefix.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-fable-5-1": ModelPrice(input=10.0, output=50.0, cache_write=12.50, cache_read=0.25),
    "claude-opus-5-5": ModelPrice(input=4.0, output=20.0, cache_write=5.0, cache_read=0.20),
    "claude-opus-5": ModelPrice(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "claude-opus-4-8": ModelPrice(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "claude-opus-4-7": ModelPrice(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "claude-opus-4-6": ModelPrice(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "claude-opus-4-5": ModelPrice(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "claude-sonnet-5-5": ModelPrice(input=2.0, output=10.0, cache_write=2.50, cache_read=0.20),
    "claude-sonnet-5": ModelPrice(input=2.0, output=10.0, cache_write=2.50, cache_read=0.20),
    "claude-sonnet-4-6": ModelPrice(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30),
    "claude-sonnet-4-5": ModelPrice(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30),
    "claude-haiku-4-5": ModelPrice(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
    # The offline model is free to run; it carries a nominal price so budgets and cost reports
    # behave as they would with a real model.
    "offline-model": ModelPrice(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
}


class PriceTable:
    def __init__(self, prices: dict[str, ModelPrice]):
        self._prices = prices

    @classmethod
    def load(cls, extra_file: Path | None = None) -> PriceTable:
        prices = dict(DEFAULT_PRICES)
        if extra_file is not None:
            raw = json.loads(extra_file.read_text())
            prices.update({model: ModelPrice.model_validate(p) for model, p in raw.items()})
        return cls(prices)

    def price_for(self, model: str) -> ModelPrice | None:
        """Exact model name first, then the longest known prefix (dated snapshots share a price)."""
        if model in self._prices:
            return self._prices[model]
        matches = [name for name in self._prices if model.startswith(name)]
        return self._prices[max(matches, key=len)] if matches else None

    def cost(self, model: str, usage: Usage) -> float:
        price = self.price_for(model)
        if price is None:
            return 0.0
        return (
            usage.input_tokens * price.input
            + usage.output_tokens * price.output
            + usage.cache_creation_input_tokens * price.cache_write
            + usage.cache_read_input_tokens * price.cache_read
        ) / 1_000_000
