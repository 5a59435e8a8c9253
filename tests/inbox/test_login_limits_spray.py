"""A name spray does not lift a reviewer's lockout (security review, issue 29).

The per-name counts of the sign-in limiter are bounded: names are remembered up to a maximum and the
least recently tried one is forgotten past it. Were a configured reviewer's count kept with the
made-up names, 10,000 made-up names (from as many addresses as it takes to pass the per-address
limit) would evict the locked-out reviewer, and the guessing could go on. The spray is driven into
the app's limiter directly (10,000 HTTP sign-ins would take minutes); the lockout and the check
after the spray go through the app's real sign-in path."""

from __future__ import annotations

from starlette.testclient import TestClient

from common.login_limits import MAX_KEYS
from common.settings import Settings
from inbox.app import build_app
from inbox.limits import LoginLimits
from tests.inbox.conftest import PASSWORDS
from tests.inbox.recording import RecordingRuns
from tests.inbox.test_login_limits import FakeClock, login_token, sign_in_attempt


def test_a_spray_of_other_names_does_not_lift_a_reviewers_lockout(inbox_settings: Settings) -> None:
    # The attacker has many addresses: the per-address limit is not what stops the spray here.
    settings = inbox_settings.model_copy(update={"inbox_login_max_attempts_per_address": 10 * MAX_KEYS})
    clock = FakeClock()
    limits = LoginLimits(settings, clock=clock)
    web = TestClient(build_app(settings, runs=RecordingRuns(), login_limits=limits), follow_redirects=False)

    assert [sign_in_attempt(web, "bob", "guess") for _ in range(5)] == [401] * 5
    assert sign_in_attempt(web, "mallory", "guess") == 401  # a made-up name, counted the same way
    assert [sign_in_attempt(web, "mallory", "guess") for _ in range(5)] == [401] * 4 + [429]
    assert sign_in_attempt(web, "bob", "guess") == 429  # bob is locked out for one window

    for i in range(MAX_KEYS + 1):
        assert limits.attempt(f"sprayed-{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") is None
    clock.now += 60  # well within bob's 300 s lockout

    token = login_token(web.get("/login").text)
    refused = web.post("/login", data={"username": "bob", "password": PASSWORDS["bob"], "csrf_token": token})
    assert refused.status_code == 429, "the spray evicted bob's lockout"
    assert "Too many sign-in attempts for this reviewer" in refused.text
    assert int(refused.headers["retry-after"]) == 240
    # A made-up name's count is what gives way (bounded memory): mallory's lockout is forgotten.
    assert sign_in_attempt(web, "mallory", "guess") == 401
    # And the case of a reviewer's name does not make it a made-up name with a count of its own.
    assert sign_in_attempt(web, "BOB", PASSWORDS["bob"]) == 429
