"""A provider's 429 feeds its `retry-after` into the shared rate limiter: every worker pauses the
model until then. A hostile or broken provider may say anything there (`1e308`, `inf`, `nan`, a
date in the year 99999): the call must still fail as a classified, retryable `LLMRateLimited`, and
the pause stays within the ten-minute cap, never an error of its own nor a model closed for years. A local OpenAI-compatible
server, the real provider client and activity, the limiter in a real SQLite spend file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.llm.activity import LLMActivities
from activities.llm.error_types import RATE_LIMITED
from activities.llm.factory import build_provider
from activities.llm.pricing import PriceTable
from activities.spend.rate_limit import RateLimiter, SqliteBuckets
from common.contracts.llm import LLMRequest, Message
from common.rate_limits import parse_rate_limits
from common.settings import Settings
from tests.fakes.openai_server import OpenAIServer
from tests.fakes.scripted_server import Fail


@pytest.mark.parametrize(
    "said",
    ["1e308", "inf", "nan", "-inf", "Fri, 31 Dec 99999 23:59:59 GMT", "Fri, 31 Dec 9999999999 23:59:59 GMT"],
)
async def test_a_hostile_retry_after_is_a_capped_pause_not_a_crash(
    said: str, openai_settings: Settings, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.script(Fail(429, "rate_limit_exceeded", headers={"retry-after": said}))
    limiter = RateLimiter(
        parse_rate_limits('{"openai/llama3.1": {"rpm": 600}}'), SqliteBuckets(tmp_path / "spend.sqlite3")
    )
    llm = LLMActivities(build_provider(openai_settings), PriceTable.load(), rate_limiter=limiter)

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(llm.complete, LLMRequest(messages=[Message.user_text("hi")]))

    assert raised.value.type == RATE_LIMITED and not raised.value.non_retryable
    delay = raised.value.next_retry_delay
    assert delay is None or timedelta(0) < delay <= timedelta(minutes=10)
    limit = limiter.limit_for("openai", "llama3.1")
    assert limit is not None
    admission = await limiter.try_admit(limit, 1)
    assert admission.admitted or (admission.waiting_for == "paused" and admission.wait_s <= 600)
