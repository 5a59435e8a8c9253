"""What `llm.complete` asks before and after a model call of a tenant with a budget: reserve the
call's worst-case cost (refused: `TenantBudgetExhausted`, non-retryable), keep the reservation alive
while the call runs, settle it to the attempt's true cost when the call ends, however it ends.

    async with spend.hold(request, model, prices, meter) as held:   # reserves (or refuses)
        reply = await provider.complete(...)
        held.replied(reply)                                  # settles to the reply's cost

The worst case bounds the input tokens by the request's size in UTF-8 bytes (a token is at least one
byte of text, and the JSON's quoting outweighs the few tokens a provider adds per message; priced at
the dearer of a fresh input and a cache write) plus
`max_tokens` of output, at the worker's price table. A reservation expires after the activity's
heartbeat timeout unless renewed: a worker that died holding one leaves it to the next reservation
of the tenant, which settles it as `lost` at its reserved amount.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.llm.call_context import UsageMeter
from activities.llm.error_types import TENANT_BUDGET_EXHAUSTED
from activities.llm.pricing import PriceTable
from activities.spend.budgets import BudgetsFile, limits_of
from activities.spend.ledger import Refusal, Reservation, Settled, SpendLedger, nanos, open_spend_ledger, usd
from common.contracts.llm import LLMRequest, ProviderReply, Usage
from common.settings import Settings
from common.tenant_budgets import TenantBudget

__all__ = [
    "DEFAULT_EXPIRY_S",
    "TOOL_USE_PROMPT_TOKENS",
    "Held",
    "TenantSpend",
    "estimated_input_tokens",
    "tenant_budget_exhausted",
    "worst_case_nanos",
    "worst_case_usd",
]

log = logging.getLogger(__name__)

# A reservation's life when the activity has no heartbeat timeout (a script, a test's bare call).
DEFAULT_EXPIRY_S = 60.0


# The system prompt a provider adds of its own to a request that offers tools (or forces one for a
# response schema), billed as input: Anthropic documents up to 530 tokens (Claude 3 Opus).
TOOL_USE_PROMPT_TOKENS = 600


def estimated_input_tokens(request: LLMRequest) -> int:
    """An upper bound of the request's input tokens: its JSON (system, messages, tools, schema) in
    UTF-8 bytes, plus the provider's own tool-use prompt when tools are offered. A guess such as
    characters / 3 can fall short (code, numbers, other scripts run denser), and then a reservation
    would let the tenant's spend pass its limit."""
    added = TOOL_USE_PROMPT_TOKENS if request.tools or request.response_schema is not None else 0
    return (
        len(request.system.encode())
        + len(request.model_dump_json(include={"messages", "tools", "response_schema"}).encode())
        + added
    )


def worst_case_usd(prices: PriceTable, request: LLMRequest, model: str) -> float:
    """The most the call may cost: the input estimate at the dearer of fresh input and cache write,
    plus `max_tokens` of output."""
    tokens = estimated_input_tokens(request)
    as_input = Usage(input_tokens=tokens, output_tokens=request.max_tokens)
    as_cache_write = Usage(cache_write_tokens=tokens, output_tokens=request.max_tokens)
    return max(prices.quote(model, as_input).cost_usd, prices.quote(model, as_cache_write).cost_usd)


def worst_case_nanos(prices: PriceTable, request: LLMRequest, model: str) -> int:
    """The call's worst case in nanodollars, rounded up: what a reservation holds."""
    return nanos(worst_case_usd(prices, request, model), round_up=True)


def tenant_budget_exhausted(refusal: Refusal) -> ApplicationError:
    return ApplicationError(
        refusal.message(),
        {
            "tenant": refusal.tenant,
            "period": refusal.period,
            "limit_usd": usd(refusal.limit_nanos),
            "used_usd": usd(refusal.used_nanos),
            "wanted_usd": usd(refusal.wanted_nanos),
        },
        type=TENANT_BUDGET_EXHAUSTED,
        non_retryable=True,
        # The tenant's rule at work, not a fault: the SDK logs it at debug level, without a
        # traceback, and counts it in no failure metric (the run's outcome and status say it).
        category=ApplicationErrorCategory.BENIGN,
    )


class Held:
    """A call's reservation while it runs; `replied` gives the cost it settles to on success."""

    def __init__(self, prices: PriceTable, meter: UsageMeter | None, model: str = "") -> None:
        self._prices = prices
        self._meter = meter
        self._model = model  # the model asked for: priced, as a tenant's budget requires
        self._reply: ProviderReply | None = None

    def replied(self, reply: ProviderReply) -> None:
        self._reply = reply

    def cost_usd(self) -> float:
        """This attempt's true cost: the reply's, or what the meter saw before the call failed. A
        reply under a model name the price table does not know (a gateway's `vendor/model`) is
        priced as the model asked for: settling at $0 would let the budget be passed."""
        if self._reply is not None:
            usage, named = self._reply.usage, self._reply.model
        elif self._meter is not None:
            usage, named = self._meter.state.usage, ""
            if self._meter.state.priced:
                return self._meter.state.cost_usd
        else:
            return 0.0
        quote = self._prices.quote(named, usage) if named else None
        if quote is None or not quote.priced:
            quote = self._prices.quote(self._model, usage)
        return quote.cost_usd

    @property
    def succeeded(self) -> bool:
        return self._reply is not None

    def cost_unknown(self) -> bool:
        """A failed attempt whose stream began but reported no usage (cut before its last chunk): the
        provider billed it, for how much is unknown."""
        return self._reply is None and self._meter is not None and self._meter.cost_unknown


class TenantSpend:
    """Built once per worker: the budgets file and the ledger (none: no tenant has a limit)."""

    def __init__(self, budgets: BudgetsFile | None = None, ledger: SpendLedger | None = None) -> None:
        self._budgets = budgets
        self._ledger = ledger

    @classmethod
    def from_settings(cls, settings: Settings) -> TenantSpend:
        if not settings.tenant_budgets_file.strip():
            return cls()  # no budgets: no reservation, no database
        dsn = settings.spend_ledger_dsn.get_secret_value() if settings.spend_ledger_dsn else None
        ledger = open_spend_ledger(settings.spend_ledger_path, dsn)
        return cls(BudgetsFile(Path(settings.tenant_budgets_file)), ledger)

    def applies(self, request: LLMRequest) -> bool:
        """Whether the request's tenant has a budget (then its model must have a price)."""
        return self._limited(request) is not None

    def _limited(self, request: LLMRequest) -> tuple[TenantBudget, SpendLedger] | None:
        if self._budgets is None or self._ledger is None or request.tenant is None:
            return None
        budget = self._budgets.budget(request.tenant)
        return (budget, self._ledger) if budget is not None else None

    @contextlib.asynccontextmanager
    async def hold(
        self, request: LLMRequest, model: str, prices: PriceTable, meter: UsageMeter | None = None
    ) -> AsyncIterator[Held]:
        held = Held(prices, meter, model)
        limited = self._limited(request)
        if limited is None or request.tenant is None:
            yield held
            return
        budget, ledger = limited
        expiry_s = _expiry_s()
        attempt = activity.info() if activity.in_activity() else None
        reservation = Reservation(
            reservation_id=uuid.uuid4().hex,
            tenant=request.tenant,
            model=model,
            amount_nanos=worst_case_nanos(prices, request, model),
            workflow_id=(attempt.workflow_id or "") if attempt else "",
            step=request.step,
            attempt=attempt.attempt if attempt else 1,
        )
        outcome = await ledger.reserve(reservation, limits_of(budget), expiry_s)
        if isinstance(outcome, Refusal):
            raise tenant_budget_exhausted(outcome)
        renewing = asyncio.create_task(_renew(ledger, reservation.reservation_id, expiry_s))
        try:
            yield held
        finally:
            renewing.cancel()
            state: Settled = "settled" if held.succeeded else "failed"
            # An attempt billed for an unknown amount counts at its worst case, as a lost one does.
            amount = reservation.amount_nanos if held.cost_unknown() else nanos(held.cost_usd())
            settling = ledger.settle(reservation.reservation_id, amount, state)
            try:
                # Shielded: a cancelled call (the workflow's, or a stopping worker's) still settles.
                await asyncio.shield(settling)
            except Exception as error:  # the reservation expires and is counted at its amount
                log.warning(
                    "tenant %s: settling reservation %s failed: %s",
                    request.tenant,
                    reservation.reservation_id,
                    error,
                )

    async def aclose(self) -> None:
        if self._ledger is not None:
            await self._ledger.close()


def _expiry_s() -> float:
    if activity.in_activity():
        timeout = activity.info().heartbeat_timeout
        if timeout is not None and timeout > timedelta(0):
            return timeout.total_seconds()
    return DEFAULT_EXPIRY_S


async def _renew(ledger: SpendLedger, reservation_id: str, expiry_s: float) -> None:
    """Keeps a running call's reservation from expiring: renewed three times per expiry."""
    while True:
        await asyncio.sleep(expiry_s / 3)
        try:
            await ledger.renew(reservation_id, expiry_s)
        except Exception as error:  # an expired reservation is counted at its amount: never lost money
            log.warning("renewing reservation %s failed: %s", reservation_id, error)
