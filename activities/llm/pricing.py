"""What a model call costs, in USD.

Prices come from pydantic's `genai-prices` package (pinned in pyproject.toml): a maintained table of
Anthropic, OpenAI and many other providers' list prices, cache reads and writes included, and the
tiers some models charge for long prompts. Its bundled snapshot is used as installed: it never
fetches prices at run time (only its `UpdatePrices` does, which this project does not start), so a
worker prices calls offline and the same way until the package is upgraded.

`LLM_PRICING_FILE` (JSON, USD per million tokens) adds or overrides models, e.g. a local model's
notional price. The offline model carries a nominal price, so budgets and cost reports behave as
with a real model; its replies say they come from the offline model. A model found nowhere is
unpriced: its cost is 0 and `Quote.priced` is False (`LLMResponse.priced`), never a silent $0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from common.contracts.llm import Usage

if TYPE_CHECKING:
    from genai_prices.types import PriceCalculation

__all__ = ["DEFAULT_PRICES", "OFFLINE_MODEL_PRICE", "ModelPrice", "PriceTable", "Quote"]


class ModelPrice(BaseModel):
    """USD per million tokens. A tiered price is given by its base tier."""

    input: float
    output: float
    cache_write: float
    cache_read: float


# Nominal: the offline model is free to run, and priced like a small model so budgets work.
OFFLINE_MODEL_PRICE = ModelPrice(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10)
# The prices the project itself sets; everything else comes from genai-prices.
DEFAULT_PRICES: dict[str, ModelPrice] = {"offline-model": OFFLINE_MODEL_PRICE}


@dataclass(frozen=True)
class Quote:
    cost_usd: float
    priced: bool


class PriceTable:
    def __init__(self, prices: dict[str, ModelPrice], provider_id: str | None = None):
        """`prices`: the project's and the pricing file's models, before genai-prices. `provider_id`:
        the genai-prices provider to look a model up at first (e.g. "anthropic")."""
        self._prices = prices
        self._provider_id = provider_id

    @classmethod
    def load(cls, extra_file: Path | None = None, provider_id: str | None = None) -> PriceTable:
        prices = dict(DEFAULT_PRICES)
        if extra_file is not None:
            raw = json.loads(extra_file.read_text())
            prices.update({model: ModelPrice.model_validate(p) for model, p in raw.items()})
        return cls(prices, provider_id)

    def price_for(self, model: str) -> ModelPrice | None:
        """The listed price: our own table (exact name, then the longest prefix: dated snapshots and
        tags share a price), then genai-prices."""
        own = self._own_price(model)
        if own is not None:
            return own
        calculation = _calculate(model, self._provider_id, 0, 0, 0, 0)
        return _flat_price(calculation) if calculation is not None else None

    def quote(self, model: str, usage: Usage) -> Quote:
        own = self._own_price(model)
        if own is not None:
            return Quote(_flat_cost(own, usage), priced=True)
        calculation = _calculate(
            model,
            self._provider_id,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
        )
        if calculation is None:
            return Quote(0.0, priced=False)
        return Quote(float(calculation.total_price), priced=True)

    def cost(self, model: str, usage: Usage) -> float:
        """The cost in USD; 0 for an unpriced model (use `quote` to tell the two apart)."""
        return self.quote(model, usage).cost_usd

    def is_priced(self, model: str) -> bool:
        return self.price_for(model) is not None

    def _own_price(self, model: str) -> ModelPrice | None:
        if model in self._prices:
            return self._prices[model]
        matches = [name for name in self._prices if model.startswith(name)]
        return self._prices[max(matches, key=len)] if matches else None


def _flat_cost(price: ModelPrice, usage: Usage) -> float:
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_write_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
    ) / 1_000_000


def _calculate(
    model: str, provider_id: str | None, fresh: int, output: int, cache_read: int, cache_write: int
) -> PriceCalculation | None:
    """genai-prices' price of one request, or None for a model it does not know. Imported on first
    use: a worker's start-up is part of every crash recovery, and it needs no prices."""
    if not _known(model, provider_id):
        return None
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    # genai-prices counts cached tokens inside input_tokens (as OpenAI does); we count them apart.
    usage = PriceUsage(
        input_tokens=fresh + cache_read + cache_write,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
    try:
        return calc_price(usage, model, provider_id=provider_id)
    except LookupError:
        return calc_price(usage, model)


@cache
def _known(model: str, provider_id: str | None) -> bool:
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    for hint in (provider_id, None) if provider_id else (None,):
        try:
            calc_price(PriceUsage(), model, provider_id=hint)
            return True
        except LookupError:
            continue
    return False


def _flat_price(calculation: PriceCalculation) -> ModelPrice:
    price = calculation.model_price
    return ModelPrice(
        input=_per_million(price.input_mtok),
        output=_per_million(price.output_mtok),
        cache_write=_per_million(price.cache_write_mtok),
        cache_read=_per_million(price.cache_read_mtok),
    )


def _per_million(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, Decimal):
        return float(value)
    return float(value.base)  # TieredPrices: the price below the first tier
