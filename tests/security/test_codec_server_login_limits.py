"""The codec server's browser sign-in (`POST /login` with CODEC_SERVER_TOKEN) has an attempt limit
per client address (security review, issue 29: it had none, 300 wrong tokens in 9 s): past
CODEC_SERVER_LOGIN_MAX_ATTEMPTS within the window, 429 with Retry-After for a lockout that starts at
the window and doubles on each repeat; during it not even the right token is checked.

Through the real `python -m worker.codec_server` process, with a short window so the lockout ends
within the test."""

from __future__ import annotations

import math
import time

import httpx
import pytest

from tests.security.codec_process import codec_server
from tests.security.test_codec_server import KEYS, TOKEN, UI

MAX_ATTEMPTS, WINDOW_S = 3, 2.0


def sign_in(http: httpx.Client, token: str) -> httpx.Response:
    http.cookies.clear()
    return http.post("/login", data={"token": token})


def test_wrong_tokens_meet_a_limit_that_holds_the_right_one_off_until_the_lockout_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CODEC_SERVER_LOGIN_MAX_ATTEMPTS", str(MAX_ATTEMPTS))
    monkeypatch.setenv("CODEC_SERVER_LOGIN_WINDOW_S", str(WINDOW_S))
    monkeypatch.setenv("CODEC_SERVER_LOGIN_MAX_LOCKOUT_S", "60")
    with codec_server(KEYS, TOKEN, UI) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        wrong = [sign_in(http, f"guess-{i}").status_code for i in range(MAX_ATTEMPTS)]
        assert wrong == [401] * MAX_ATTEMPTS
        locked_from = time.monotonic()  # before the request: the lockout starts after this
        locked = sign_in(http, "guess-again")
        assert locked.status_code == 429, locked.text
        assert locked.headers["retry-after"] == str(math.ceil(WINDOW_S))
        assert "Too many sign-in attempts from your network address" in locked.text

        # The right token during the lockout is refused too: no token is checked until it ends.
        right = sign_in(http, TOKEN)
        assert right.status_code == 429 and "codec_session" not in right.cookies
        assert http.post("/login", data={"token": TOKEN}).status_code == 429

        # Once it ends, the right token signs in (polled: the lockout's end is the server's clock).
        deadline = locked_from + WINDOW_S + 30
        while (after := sign_in(http, TOKEN)).status_code == 429:
            assert time.monotonic() < deadline, "the lockout did not end"
            time.sleep(0.1)  # the poll's pace; the condition is the answer above
        assert time.monotonic() - locked_from >= WINDOW_S, "the lockout ended early"
        assert after.status_code == 303 and after.cookies.get("codec_session")

        # The next lockout is twice as long.
        assert [sign_in(http, "guess").status_code for _ in range(MAX_ATTEMPTS)] == [401] * MAX_ATTEMPTS
        again = sign_in(http, "guess")
        assert again.status_code == 429 and again.headers["retry-after"] == str(math.ceil(2 * WINDOW_S))
