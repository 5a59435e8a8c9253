"""One worker process competing for a shared rate limit (tests/spend/test_rate_limit.py starts several):
takes slots from the spend database until `--until` (seconds since the epoch) and prints the times
it was admitted (the admitting transaction's clock), as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from activities.spend.rate_limit import PostgresBuckets, RateLimiter, SqliteBuckets
from common.rate_limits import parse_rate_limits

__all__ = ["main"]


async def compete(limiter: RateLimiter, key: str, tokens: int, start: float, until: float) -> list[float]:
    provider, model = key.split("/", 1)
    limit = limiter.limit_for(provider, model)
    assert limit is not None
    await asyncio.sleep(max(0.0, start - time.time()))  # every process starts at the same moment
    admitted: list[float] = []
    while time.time() < until:
        admission = await limiter.try_admit(limit, tokens)
        if admission.admitted:
            admitted.append(admission.at)
        else:
            await asyncio.sleep(min(admission.wait_s, max(0.0, until - time.time())))
    await limiter.close()
    return admitted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limits", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--tokens", type=int, default=1)
    parser.add_argument("--sqlite")
    parser.add_argument("--dsn")
    parser.add_argument("--start", type=float, required=True)
    parser.add_argument("--until", type=float, required=True)
    args = parser.parse_args()
    buckets = PostgresBuckets(args.dsn) if args.dsn else SqliteBuckets(Path(args.sqlite))
    limiter = RateLimiter(parse_rate_limits(args.limits), buckets)
    print(json.dumps(asyncio.run(compete(limiter, args.key, args.tokens, args.start, args.until))))


if __name__ == "__main__":
    main()
