"""The LLM rate limiter every worker of a deployment shares (`LLM_RATE_LIMITS`, common/rate_limits.py).

Per (provider, model) two buckets, requests and tokens, each the continuously refilled bucket the
providers themselves use (Anthropic and OpenAI document theirs so): a full bucket holds `burst`
requests (default a minute's worth) and `tpm` tokens and refills at `rpm` / `tpm` per minute. A
bucket is kept as one time, GCRA style: the moment it would be full again (`*_full_at`), so its
state is one row per model and the decision one short transaction, whatever the limits.

`try_admit` either takes the request's slot (one request and the request's token estimate) or
answers how long to wait; both buckets must agree, so a refused request takes nothing. After the
call `settle` replaces the estimate with the true usage. A provider's 429 with `retry-after`
(`pause`) closes the model for every worker until then.

Kept in the spend database: a SQLite file (SPEND_LEDGER_PATH, one host; `BEGIN IMMEDIATE`
serialises the workers' transactions) or PostgreSQL (SPEND_LEDGER_DSN, many hosts; the row is
locked `FOR UPDATE`, and the database's clock is the one clock all hosts agree on).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from temporalio.exceptions import ApplicationError

from common.postgres import SharedConnection, require_psycopg
from common.rate_limits import RateLimit, RateLimits, parse_rate_limits
from common.settings import Settings
from common.sqlite_file import SqliteFile

__all__ = [
    "RATE_LIMITER_UNAVAILABLE",
    "Admission",
    "Bucket",
    "Buckets",
    "PostgresBuckets",
    "RateLimiter",
    "SqliteBuckets",
    "decide",
    "open_rate_limiter",
    "rate_limiter_from",
]

RATE_LIMITER_UNAVAILABLE = "RateLimiterUnavailable"  # retryable: the spend database did not answer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_limit_buckets (
    limit_key TEXT PRIMARY KEY,
    requests_full_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    tokens_full_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    paused_until DOUBLE PRECISION NOT NULL DEFAULT 0
)
"""
_ENSURE = "INSERT INTO rate_limit_buckets (limit_key) VALUES ({p}) ON CONFLICT (limit_key) DO NOTHING"
_READ = "SELECT requests_full_at, tokens_full_at, paused_until FROM rate_limit_buckets WHERE limit_key = {p}"
_WRITE = """
UPDATE rate_limit_buckets SET requests_full_at = {p}, tokens_full_at = {p}, paused_until = {p}
WHERE limit_key = {p}
"""


@dataclass(frozen=True)
class Bucket:
    """One model's row: when each bucket is full again, and until when a provider's 429 paused it
    (seconds since the epoch)."""

    requests_full_at: float = 0.0
    tokens_full_at: float = 0.0
    paused_until: float = 0.0


@dataclass(frozen=True)
class Admission:
    admitted: bool
    wait_s: float = 0.0  # refused: how long until it would be admitted (if nobody else comes first)
    waiting_for: Literal["", "requests", "tokens", "paused"] = ""
    at: float = 0.0  # the decision's time, on the clock of the transaction that made it


def decide(limit: RateLimit, bucket: Bucket, now: float, tokens: int) -> tuple[Admission, Bucket]:
    """Admit one request of `tokens` (estimated) tokens at `now`, or say how long to wait.

    A bucket of capacity C refilling one unit per T seconds is full at `full_at`; at `now` it holds
    C - max(0, full_at - now) / T units, and taking n units moves `full_at` to max(full_at, now) + nT.
    A request larger than a whole bucket is admitted when the bucket is full (it could never fit)."""
    if bucket.paused_until > now:
        return Admission(False, bucket.paused_until - now, "paused"), bucket
    requests_full_at, wait_requests = _take(bucket.requests_full_at, now, 1, limit.request_burst, limit.rpm)
    tokens_full_at, wait_tokens = _take(bucket.tokens_full_at, now, tokens, limit.tpm, limit.tpm)
    if wait_requests > 0 or wait_tokens > 0:
        which: Literal["requests", "tokens"] = "requests" if wait_requests >= wait_tokens else "tokens"
        return Admission(False, max(wait_requests, wait_tokens), which), bucket
    taken = Bucket(requests_full_at, tokens_full_at, bucket.paused_until)
    return Admission(True, at=now), taken


def _take(
    full_at: float, now: float, units: int, capacity: int | None, per_minute: int | None
) -> tuple[float, float]:
    """(the bucket's new full-at time, 0) when `units` fit, else (unchanged, seconds to wait)."""
    if per_minute is None or capacity is None:
        return full_at, 0.0
    interval = 60.0 / per_minute
    debt = max(0.0, full_at - now)  # seconds of refill the bucket lacks
    allowed = max(0.0, (capacity - units) * interval)  # the most it may lack for `units` to fit
    if debt > allowed + 1e-9:
        return full_at, debt - allowed
    return max(full_at, now) + units * interval, 0.0


def _settled(limit: RateLimit, bucket: Bucket, now: float, estimated: int, used: int) -> Bucket:
    """The token bucket with a call's estimate replaced by what it used (either way)."""
    if limit.tpm is None or used == estimated:
        return bucket
    full_at = max(bucket.tokens_full_at, now) if used > estimated else bucket.tokens_full_at
    return Bucket(
        bucket.requests_full_at, full_at + (used - estimated) * 60.0 / limit.tpm, bucket.paused_until
    )


class Buckets(Protocol):
    """Where the rows live: `change(key, fn)` runs `fn(row, now)` in one transaction with the row
    locked and stores the row it returns."""

    async def change(self, key: str, fn: Callable[[Bucket, float], tuple[Any, Bucket]]) -> Any: ...

    async def close(self) -> None: ...


def unavailable(message: str) -> ApplicationError:
    return ApplicationError(message, type=RATE_LIMITER_UNAVAILABLE)


class SqliteBuckets:
    """The SQLite spend file (one host): `BEGIN IMMEDIATE` makes each change one writer at a time."""

    def __init__(self, path: Path):
        self._file = SqliteFile(Path(path), [_SCHEMA], "rate limiter", unavailable)

    async def change(self, key: str, fn: Callable[[Bucket, float], tuple[Any, Bucket]]) -> Any:
        def transaction(connection: sqlite3.Connection) -> Any:
            connection.execute(_ENSURE.format(p="?"), (key,))
            row = connection.execute(_READ.format(p="?"), (key,)).fetchone()
            before = Bucket(*row)
            result, after = fn(before, time.time())  # after BEGIN IMMEDIATE: one clock, one writer
            if after != before:
                connection.execute(
                    _WRITE.format(p="?"),
                    (after.requests_full_at, after.tokens_full_at, after.paused_until, key),
                )
            return result

        return await self._file.run(transaction, write=True)

    async def close(self) -> None:
        await self._file.close()  # the writer's kept connection


class PostgresBuckets:
    """PostgreSQL (many hosts): the row is locked for the transaction, the time is the database's."""

    def __init__(self, dsn: str):
        self._db = SharedConnection(dsn, [_SCHEMA], "rate limiter", unavailable)

    async def change(self, key: str, fn: Callable[[Bucket, float], tuple[Any, Bucket]]) -> Any:
        async def transaction(connection: Any) -> Any:
            async with connection.transaction():
                await connection.execute(_ENSURE.format(p="%s"), (key,))
                cursor = await connection.execute(_READ.format(p="%s") + " FOR UPDATE", (key,))
                before = Bucket(*(float(value) for value in await cursor.fetchone()))
                cursor = await connection.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
                now = float((await cursor.fetchone())[0])
                result, after = fn(before, now)
                if after != before:
                    await connection.execute(
                        _WRITE.format(p="%s"),
                        (after.requests_full_at, after.tokens_full_at, after.paused_until, key),
                    )
                return result

        return await self._db.run(transaction)

    async def close(self) -> None:
        await self._db.close()


class RateLimiter:
    """The configured limits over the shared buckets."""

    def __init__(self, limits: RateLimits, buckets: Buckets):
        self.limits = limits
        self._buckets = buckets

    def limit_for(self, provider: str, model: str) -> RateLimit | None:
        return self.limits.for_model(provider, model)

    async def try_admit(self, limit: RateLimit, tokens: int) -> Admission:
        """Takes the slot of one request of `tokens` estimated tokens, or says how long to wait."""

        def admit(bucket: Bucket, now: float) -> tuple[Admission, Bucket]:
            return decide(limit, bucket, now, tokens)

        admission: Admission = await self._buckets.change(limit.key, admit)
        return admission

    async def settle(self, limit: RateLimit, estimated: int, used: int) -> None:
        """After the call: its true token usage replaces the estimate admitted with it."""

        def settle(bucket: Bucket, now: float) -> tuple[None, Bucket]:
            return None, _settled(limit, bucket, now, estimated, used)

        await self._buckets.change(limit.key, settle)

    async def pause(self, limit: RateLimit, seconds: float) -> None:
        """The provider said 429, retry after `seconds`: no worker sends to this model until then."""

        def pause(bucket: Bucket, now: float) -> tuple[None, Bucket]:
            until = max(bucket.paused_until, now + seconds)
            return None, Bucket(bucket.requests_full_at, bucket.tokens_full_at, until)

        await self._buckets.change(limit.key, pause)

    async def close(self) -> None:
        await self._buckets.close()


def rate_limiter_from(settings: Settings) -> RateLimiter | None:
    """The worker's limiter: LLM_RATE_LIMITS over SPEND_LEDGER_DSN or SPEND_LEDGER_PATH."""
    dsn = settings.spend_ledger_dsn.get_secret_value() if settings.spend_ledger_dsn else None
    return open_rate_limiter(parse_rate_limits(settings.llm_rate_limits), settings.spend_ledger_path, dsn)


def open_rate_limiter(limits: RateLimits, path: Path, dsn: str | None) -> RateLimiter | None:
    """The shared limiter (PostgreSQL with a DSN, else the SQLite file); None without limits."""
    if not limits:
        return None
    if dsn:
        require_psycopg("SPEND_LEDGER_DSN")
        return RateLimiter(limits, PostgresBuckets(dsn))
    return RateLimiter(limits, SqliteBuckets(path))
