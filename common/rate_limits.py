"""`LLM_RATE_LIMITS`: the requests and tokens per minute each provider's models may use, shared by
every worker of the deployment (the limiter is activities/spend/rate_limit.py).

The setting is a JSON object from `provider/model` to a limit:

    {"anthropic/claude-sonnet-4-5": {"rpm": 50, "tpm": 40000}, "openai/*": {"rpm": 500, "burst": 50}}

- `rpm`: requests per minute, `tpm`: tokens per minute (either may be absent: not limited);
  `burst`: requests allowed at once after a quiet spell (default `rpm`, a full minute's worth, as
  the providers' own buckets allow; lower it for a provider that enforces per second).
- `provider/*` applies to each model of that provider on its own (every model has its own bucket);
  an exact `provider/model` entry wins over it.
- `{}` sets no local limit, yet the model still shares a provider's 429 `retry-after` pauses.

A model with no entry is not limited and costs no database work.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["RateLimit", "RateLimitError", "RateLimits", "parse_rate_limits"]

_KEY = re.compile(r"^[A-Za-z0-9_.\-]+/(\*|[^*\s]+)$")
_FIELDS = ("rpm", "tpm", "burst")


class RateLimitError(ValueError):
    """An entry of LLM_RATE_LIMITS that cannot work (the message says which and why)."""


@dataclass(frozen=True)
class RateLimit:
    """The limit of one (provider, model): what the shared buckets admit."""

    key: str  # "provider/model": the bucket's name (a `provider/*` entry gives each model its own)
    rpm: int | None = None
    tpm: int | None = None
    burst: int | None = None

    @property
    def request_burst(self) -> int:
        """Requests admitted at once from a full bucket."""
        return self.burst if self.burst is not None else (self.rpm or 1)


@dataclass(frozen=True)
class RateLimits:
    entries: dict[str, RateLimit]

    def for_model(self, provider: str, model: str) -> RateLimit | None:
        """The limit that applies to `model` of `provider` (exact entry first, then `provider/*`),
        named after the model; None when neither is configured."""
        key = f"{provider}/{model}"
        found = self.entries.get(key) or self.entries.get(f"{provider}/*")
        if found is None:
            return None
        return RateLimit(key=key, rpm=found.rpm, tpm=found.tpm, burst=found.burst)

    def __bool__(self) -> bool:
        return bool(self.entries)


def parse_rate_limits(text: str) -> RateLimits:
    """The setting's JSON; `RateLimitError` (one line) for anything that is not a valid limit."""
    if not text.strip():
        return RateLimits({})
    try:
        loaded: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise RateLimitError(f"not JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(loaded, dict):
        raise RateLimitError('expected a JSON object such as {"openai/*": {"rpm": 500}}')
    entries: dict[str, RateLimit] = {}
    for key, value in loaded.items():
        if not _KEY.match(key):
            raise RateLimitError(f"{key!r}: expected a key 'provider/model' or 'provider/*'")
        if not isinstance(value, dict):
            raise RateLimitError(f'{key!r}: expected an object such as {{"rpm": 50, "tpm": 40000}}')
        unknown = sorted(set(value) - set(_FIELDS))
        if unknown:
            raise RateLimitError(f"{key!r}: unknown field {unknown[0]!r} (known: rpm, tpm, burst)")
        numbers: dict[str, int | None] = {}
        for field in _FIELDS:
            number = value.get(field)
            if number is not None and (
                isinstance(number, bool) or not isinstance(number, int) or number <= 0
            ):
                raise RateLimitError(f"{key!r}: {field} must be a positive whole number, got {number!r}")
            numbers[field] = number
        if numbers["burst"] is not None and numbers["rpm"] is None:
            raise RateLimitError(f"{key!r}: burst needs rpm")
        entries[key] = RateLimit(key=key, **numbers)
    return RateLimits(entries)
