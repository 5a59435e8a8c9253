"""One worker process competing for a shared rate limit (tests/spend/test_rate_limit.py starts several):
imports and connects, prints `ready`, reads the shared start and end (seconds since the epoch) from
stdin, takes slots from the spend database until the end and prints the times it was admitted (the
admitting transaction's clock), as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from activities.spend.rate_limit import Bucket, Buckets, PostgresBuckets, RateLimiter, SqliteBuckets
from common.rate_limits import parse_rate_limits

__all__ = ["main"]


def _unchanged(bucket: Bucket, now: float) -> tuple[None, Bucket]:
    return None, bucket


async def compete(limits: str, key: str, tokens: int, buckets: Buckets) -> list[float]:
    limiter = RateLimiter(parse_rate_limits(limits), buckets)
    provider, model = key.split("/", 1)
    limit = limiter.limit_for(provider, model)
    assert limit is not None
    # Connect before saying ready (a key of its own, left as it was), so that under a loaded machine
    # no process spends the shared window still opening its database.
    await buckets.change(f"{key}-warm-up-{os.getpid()}", _unchanged)
    print("ready", flush=True)
    window = json.loads(await asyncio.to_thread(sys.stdin.readline))
    start, until = float(window["start"]), float(window["until"])
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
    args = parser.parse_args()
    buckets: Buckets = PostgresBuckets(args.dsn) if args.dsn else SqliteBuckets(Path(args.sqlite))
    print(json.dumps(asyncio.run(compete(args.limits, args.key, args.tokens, buckets))))


if __name__ == "__main__":
    main()
