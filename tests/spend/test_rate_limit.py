"""The shared LLM rate limiter (activities/spend/rate_limit.py): its bucket arithmetic, and several
worker processes competing for one limit on both backends (a SQLite file, a real PostgreSQL server
from tests/fakes/postgres.py) never being admitted more than the limit allows."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from activities.spend.rate_limit import (
    Bucket,
    Buckets,
    PostgresBuckets,
    RateLimiter,
    SqliteBuckets,
    decide,
)
from common.rate_limits import RateLimit, RateLimitError, parse_rate_limits
from common.settings import SettingsError, try_load_settings

REPO = Path(__file__).resolve().parents[2]


def _limit(**fields: int) -> RateLimit:
    return RateLimit(key="openai/m", **fields)


def test_a_full_bucket_admits_its_burst_then_one_request_per_interval() -> None:
    limit = _limit(rpm=60, burst=3)  # one request a second, three at once
    bucket, now = Bucket(), 1000.0
    for _ in range(3):
        admission, bucket = decide(limit, bucket, now, tokens=0)
        assert admission.admitted
    refused, unchanged = decide(limit, bucket, now, tokens=0)
    assert not refused.admitted and refused.waiting_for == "requests"
    assert refused.wait_s == pytest.approx(1.0) and unchanged == bucket
    admission, bucket = decide(limit, bucket, now + refused.wait_s, tokens=0)
    assert admission.admitted


def test_tokens_are_counted_by_the_estimate_and_a_refusal_takes_nothing() -> None:
    limit = _limit(rpm=1000, tpm=600)  # ten tokens a second, 600 at once
    bucket, now = Bucket(), 50.0
    admission, bucket = decide(limit, bucket, now, tokens=500)
    assert admission.admitted
    refused, after = decide(limit, bucket, now, tokens=200)  # 100 left: 10 s until 200 fit
    assert (refused.admitted, refused.waiting_for) == (False, "tokens")
    assert refused.wait_s == pytest.approx(10.0)
    assert after == bucket  # the request bucket was not charged either


def test_a_request_larger_than_the_bucket_waits_for_a_full_bucket_instead_of_forever() -> None:
    limit = _limit(tpm=100)
    admission, bucket = decide(limit, Bucket(), 0.0, tokens=250)
    assert admission.admitted
    refused, _ = decide(limit, bucket, 1.0, tokens=250)
    assert refused.wait_s == pytest.approx(150.0 - 1.0)  # 250 tokens at 100 a minute


@pytest.fixture(params=["sqlite", "postgres"])
def new_buckets(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Buckets]:
    """Makes bucket stores on one shared database, as separate worker processes would."""
    if request.param == "sqlite":
        path = tmp_path / "spend.sqlite3"
        return lambda: SqliteBuckets(path)
    dsn = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresBuckets(dsn)


def _model(name: str) -> str:
    return f"{name}-{os.urandom(4).hex()}"  # the PostgreSQL cluster lives for the module


async def test_settling_gives_back_what_the_estimate_overcounted(new_buckets: Callable[[], Buckets]) -> None:
    limiter = RateLimiter(parse_rate_limits('{"openai/*": {"tpm": 600}}'), new_buckets())
    limit = limiter.limit_for("openai", _model("settle"))
    assert limit is not None
    assert (await limiter.try_admit(limit, 600)).admitted
    assert not (await limiter.try_admit(limit, 300)).admitted
    await limiter.settle(limit, estimated=600, used=200)  # the call used a third of its estimate
    assert (await limiter.try_admit(limit, 300)).admitted
    await limiter.close()


async def test_a_pause_from_a_429_holds_every_limiter_of_the_model(
    new_buckets: Callable[[], Buckets],
) -> None:
    limits = parse_rate_limits('{"anthropic/*": {}}')  # no local limit: only the shared pause
    one, other = RateLimiter(limits, new_buckets()), RateLimiter(limits, new_buckets())
    model = _model("claude")
    limit = one.limit_for("anthropic", model)
    assert limit is not None and (await one.try_admit(limit, 10)).admitted
    await one.pause(limit, 30.0)
    refused = await other.try_admit(limit, 10)
    assert (refused.admitted, refused.waiting_for) == (False, "paused")
    assert 29.0 < refused.wait_s <= 30.0
    other_model = other.limit_for("anthropic", _model("claude-other"))
    assert other_model is not None and (await other.try_admit(other_model, 10)).admitted
    await one.close()
    await other.close()


def test_limits_parse_and_exact_entries_win_over_the_wildcard() -> None:
    limits = parse_rate_limits('{"openai/*": {"rpm": 500}, "openai/gpt-4o": {"rpm": 5, "tpm": 900}}')
    assert limits.for_model("openai", "gpt-4o") == RateLimit("openai/gpt-4o", rpm=5, tpm=900)
    assert limits.for_model("openai", "o3") == RateLimit("openai/o3", rpm=500)
    assert limits.for_model("anthropic", "claude-x") is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("{nope", "not JSON"),
        ('["openai/*"]', "expected a JSON object"),
        ('{"openai": {"rpm": 5}}', "'openai': expected a key 'provider/model'"),
        ('{"openai/*": {"rpm": 0}}', "rpm must be a positive whole number"),
        ('{"openai/*": {"rpm": 5, "rps": 1}}', "unknown field 'rps'"),
        ('{"openai/*": {"tpm": 5, "burst": 2}}', "burst needs rpm"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(value: str, says: str) -> None:
    with pytest.raises(RateLimitError) as parsed:
        parse_rate_limits(value)
    assert "\n" not in str(parsed.value)
    with pytest.raises(SettingsError) as raised:
        try_load_settings(llm_rate_limits=value)
    message = str(raised.value)
    assert message.startswith("LLM_RATE_LIMITS: ") and says in message and "\n" not in message


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_processes_competing_are_never_admitted_more_than_the_limit(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rpm, burst, processes, seconds = 600, 5, 4, 3.0  # ten a second, five at once
    key = f"openai/competing-{os.urandom(4).hex()}"  # the PostgreSQL cluster lives for the module
    where = ["--sqlite", str(tmp_path / "spend.sqlite3")]
    if backend == "postgres":
        where = ["--dsn", request.getfixturevalue("postgres_dsn")]
        await PostgresBuckets(where[1]).close()
    limits = json.dumps({key: {"rpm": rpm, "burst": burst}})
    args = ["--limits", limits, "--key", key, *where]
    competitors = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.spend.rate_limit_competitor",
            *args,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    # The window opens once every process has imported and connected, however loaded the machine.
    for competitor in competitors:
        assert competitor.stdout is not None
        ready = await competitor.stdout.readline()
        assert ready == b"ready\n", ready + (await competitor.stderr.read() if competitor.stderr else b"")
    start = time.time() + 0.2
    window = json.dumps({"start": start, "until": start + seconds}).encode() + b"\n"
    outputs = await asyncio.gather(*(competitor.communicate(window) for competitor in competitors))
    for competitor, (_, stderr) in zip(competitors, outputs, strict=True):
        assert competitor.returncode == 0, stderr.decode()[-2000:]
    times = sorted(t for stdout, _ in outputs for t in json.loads(stdout))
    per_second = rpm / 60
    # Every process got some: they competed rather than one of them taking all.
    assert all(json.loads(stdout) for stdout, _ in outputs)
    # Never more than a full bucket plus what refilled, in the whole run or any part of it, on the
    # clock of the transactions that admitted them (the one SQLite host's, or PostgreSQL's own).
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            allowed = burst + per_second * (times[j] - first) + 1e-6
            assert j - i + 1 <= allowed, f"{j - i + 1} admitted within {times[j] - first:.3f} s"
    assert len(times) <= burst + per_second * seconds + 1
    # ... and the bucket refilled: more than the first burst went out (how many more depends on how
    # busy the machine is, which a test cannot promise; the bench measures the pace).
    assert len(times) > burst
