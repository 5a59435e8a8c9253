"""`llm.complete`'s side of the shared rate limit: wait for the call's slot before the provider is
asked, settle the slot to the call's true usage afterwards, and turn a provider's 429 `retry-after`
into a pause of the model for every worker (activities/spend/rate_limit.py keeps the count).

    slot = await take_slot(limiter, provider, model, request, keep_alive)   # may wait its turn
    ... reply = await provider.complete(...)   /   await slot.failed(error, usage_so_far)
    await slot.settle(reply.usage)

Waiting never fails the call: it lasts until the slot is free, the attempt heartbeating all along
(`keep_alive`) so Temporal sees a live worker, and a cancellation of the activity ends it at once
(the sleep is where `CancelledError` arrives). A wait over `LONG_WAIT_S` is told to the run (Signal
`rate_limit_wait`, common/contracts/waits.py), whose `status` then shows `waiting_for`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.llm.error_types import RATE_LIMITED
from activities.spend.rate_limit import RateLimiter
from common.contracts.llm import LLMRequest, Usage
from common.contracts.waits import RATE_LIMIT_WAIT_SIGNAL, RateLimitWait
from common.rate_limits import RateLimit

__all__ = ["LONG_WAIT_S", "Slot", "estimated_tokens", "take_slot"]

log = logging.getLogger(__name__)

LONG_WAIT_S = 1.0  # a wait longer than this is told to the run (a Signal: two history events)
KEEP_ALIVE_S = 2.0  # the longest sleep between two keep-alives while waiting
CHARS_PER_TOKEN = 3


def estimated_tokens(request: LLMRequest) -> int:
    """What a request counts against a tokens-per-minute limit before it is sent: its input
    (system, messages, tools, schema) in characters / 3, rounded up, plus `max_tokens`. Not the
    tenant reservation's byte count (activities/spend/guard.py): that bound must never fall short,
    while here an estimate too high only holds back calls until the true usage settles it."""
    size = len(request.system) + len(
        request.model_dump_json(include={"messages", "tools", "response_schema"})
    )
    return math.ceil(size / CHARS_PER_TOKEN) + request.max_tokens


class Slot:
    """An admitted call's place in its model's limit; without a limit every method does nothing."""

    def __init__(self, limiter: RateLimiter | None = None, limit: RateLimit | None = None, tokens: int = 0):
        self._limiter = limiter
        self._limit = limit
        self._tokens = tokens

    async def settle(self, usage: Usage) -> None:
        """The call returned: its true token usage replaces the estimate."""
        await self._settle(usage.all_input_tokens + usage.output_tokens)

    async def failed(self, error: ApplicationError, usage: Usage) -> None:
        """The call failed: a 429 pauses the model for every worker until its `retry-after`, and
        the tokens count as far as the stream reported them (a refused request used none)."""
        if self._limiter is None or self._limit is None:
            return
        if error.type == RATE_LIMITED and error.next_retry_delay is not None:
            try:
                await self._limiter.pause(self._limit, error.next_retry_delay.total_seconds())
            except Exception as failure:  # bookkeeping: the call's own failure is what matters
                log.warning("rate limiter: pause of %s not recorded: %s", self._limit.key, failure)
        await self._settle(usage.all_input_tokens + usage.output_tokens)

    async def _settle(self, used: int) -> None:
        if self._limiter is None or self._limit is None or self._limit.tpm is None:
            return
        try:
            await self._limiter.settle(self._limit, self._tokens, used)
        except Exception as failure:  # the call is done and paid for: never fail it now
            log.warning("rate limiter: usage of %s not settled: %s", self._limit.key, failure)


async def take_slot(
    limiter: RateLimiter | None,
    provider: str,
    model: str,
    request: LLMRequest,
    keep_alive: Callable[[], None],
) -> Slot:
    """Waits until the model's shared limit admits this call, and returns its slot."""
    limit = limiter.limit_for(provider, model) if limiter is not None else None
    if limiter is None or limit is None:
        return Slot()
    tokens = estimated_tokens(request)
    told = False
    while True:
        admission = await limiter.try_admit(limit, tokens)
        if admission.admitted:
            break
        if not told and admission.wait_s > LONG_WAIT_S:
            until = datetime.now(UTC) + timedelta(seconds=admission.wait_s)
            told = await _tell_run(
                RateLimitWait(step=request.step, limit=limit.key, until=until, reason=admission.waiting_for)
            )
        # A little jitter: the workers that learned the same moment do not all ask at once.
        await _sleep(admission.wait_s + random.uniform(0.0, 0.05), keep_alive)
    keep_alive()  # the call's first-byte window starts now, not when its wait began
    if told:
        await _tell_run(RateLimitWait(step=request.step, limit=limit.key))
    return Slot(limiter, limit, tokens)


async def _sleep(seconds: float, keep_alive: Callable[[], None]) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        keep_alive()
        await asyncio.sleep(min(left, KEEP_ALIVE_S))


async def _tell_run(wait: RateLimitWait) -> bool:
    """Signals the run this attempt belongs to; False (and a log line) when it cannot (no client,
    a bare activity): the wait goes on regardless."""
    if not activity.in_activity():
        return False
    info = activity.info()
    try:
        client: Any = activity.client()
        handle = client.get_workflow_handle(info.workflow_id or "", run_id=info.workflow_run_id)
        await handle.signal(RATE_LIMIT_WAIT_SIGNAL, wait)
    except Exception as failure:
        log.warning("rate limit wait of %s not told to its run: %s", info.workflow_id, failure)
        return False
    return True
