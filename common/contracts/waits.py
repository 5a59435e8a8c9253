"""What a kit run is told while one of its model calls waits for the shared rate limit
(`LLM_RATE_LIMITS`): the Signal `rate_limit_wait`, sent by `llm.complete` to its own workflow only when
a wait is longer than a second (once when it starts, once when it ends), so `status` can show
`waiting_for` while history grows by two events per long wait, not per call."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = ["RATE_LIMIT_WAIT_SIGNAL", "RateLimitWait"]

RATE_LIMIT_WAIT_SIGNAL = "rate_limit_wait"


class RateLimitWait(BaseModel):
    step: str  # the LLM step that waits (its `LLMRequest.step`)
    limit: str = Field(max_length=300)  # "provider/model": whose limit it waits for
    # When it expects its turn (UTC); None: the wait is over, the call has been sent.
    until: datetime | None = None
    reason: str = ""  # "requests", "tokens" or "paused" (a provider's 429 retry-after)
