"""Sign-in, sessions and cross-site protection of the inbox, through Starlette's TestClient.

A small in-memory `Runs` stands in for Temporal here (the browser tests use the real server): these
tests are about who may do what, not about workflows."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from common.settings import Settings, SettingsError, try_load_settings
from inbox.app import build_app, format_time_left
from inbox.sessions import SessionRegistry
from tests.inbox.conftest import PASSWORDS
from tests.inbox.recording import RUN_ID, RecordingRuns


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runs() -> RecordingRuns:
    return RecordingRuns()


@pytest.fixture
def web(inbox_settings: Settings, runs: RecordingRuns) -> TestClient:
    return TestClient(build_app(inbox_settings, runs=runs), follow_redirects=False)


def _token(html: str, form: str = "") -> str:
    """The CSRF token of the page's first form (of the form with class `form`, if given)."""
    start = html.index(f'<form class="{form}"') if form else 0
    match = re.search(r'name="csrf_token" value="([^"]+)"', html[start:])
    assert match, "the form has no CSRF token"
    return match.group(1)


def sign_in(web: TestClient, name: str = "alice") -> str:
    """Sign in through the form; returns the CSRF token of the new session."""
    token = _token(web.get("/login").text)
    response = web.post(
        "/login", data={"username": name, "password": PASSWORDS[name], "csrf_token": token, "next": "/"}
    )
    assert response.status_code == 303, response.text
    page = web.get("/").text
    token = _token(page, form="decision")  # the token the decision forms carry ...
    assert _token(page, form="signout") == token  # ... is the session's, as in every form
    return token


def decision_form(token: str, **extra: str) -> dict[str, str]:
    return {"csrf_token": token, "workflow_id": RUN_ID, "action_hash": "h1", "decision": "approve", **extra}


def test_pages_without_a_session_go_to_sign_in(web: TestClient) -> None:
    for path in ("/", f"/runs/{RUN_ID}"):
        response = web.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_a_decision_without_a_session_is_refused(web: TestClient, runs: RecordingRuns) -> None:
    token = _token(web.get("/login").text)  # a session with a token, but nobody signed in
    response = web.post("/decisions", data=decision_form(token), headers={"origin": "http://testserver"})
    assert response.status_code == 403
    assert "Sign in first" in response.text
    assert runs.decisions == []


def test_wrong_password_and_unknown_reviewer_are_refused(web: TestClient) -> None:
    token = _token(web.get("/login").text)
    for name, password in (("alice", PASSWORDS["bob"]), ("mallory", "x")):
        response = web.post("/login", data={"username": name, "password": password, "csrf_token": token})
        assert response.status_code == 401
        assert "wrong password" in response.text
    assert web.get("/").status_code == 303


def test_sign_in_needs_the_form_token(web: TestClient) -> None:
    web.get("/login")
    response = web.post("/login", data={"username": "alice", "password": PASSWORDS["alice"]})
    assert response.status_code == 403
    assert web.get("/").status_code == 303


def test_signed_in_reviewer_sees_the_run_in_full_escaped(web: TestClient) -> None:
    sign_in(web)
    page = web.get("/").text
    assert 'data-testid="reviewer">alice<' in page
    assert RUN_ID in page and "durable agents" in page and "$0.0123" in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page  # the proposed action is shown as text, in full
    assert "1 h 59 min left" in page
    assert "http://localhost:8233/namespaces/default/workflows/research-abc/r1/history" in page


def test_session_cookie_is_http_only_and_same_site(web: TestClient) -> None:
    token = _token(web.get("/login").text)
    response = web.post(
        "/login", data={"username": "bob", "password": PASSWORDS["bob"], "csrf_token": token, "next": "/"}
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "script-src" not in response.headers["content-security-policy"]  # no script may run


def test_the_approver_is_the_signed_in_reviewer_never_a_form_field(
    web: TestClient, runs: RecordingRuns
) -> None:
    token = sign_in(web, "bob")
    response = web.post(
        "/decisions",
        data=decision_form(token, approver="alice", comment="looks fine"),
        headers={"origin": "http://testserver"},
    )
    assert response.status_code == 303
    [(workflow_id, decision, expected_hash)] = runs.decisions
    assert (workflow_id, decision.approver, decision.approved, decision.comment) == (
        RUN_ID,
        "bob",
        True,
        "looks fine",
    )
    assert expected_hash == "h1"
    assert "recorded for bob" in web.get(response.headers["location"]).text


def test_bad_csrf_token_is_refused(web: TestClient, runs: RecordingRuns) -> None:
    token = sign_in(web)
    for form in (
        decision_form("forged"),
        {k: v for k, v in decision_form(token).items() if k != "csrf_token"},
    ):
        response = web.post("/decisions", data=form)
        assert response.status_code == 403
        assert "token" in response.text
    assert runs.decisions == []


def test_token_of_another_session_is_refused(inbox_settings: Settings, runs: RecordingRuns) -> None:
    app = build_app(inbox_settings, runs=runs)
    alice, bob = TestClient(app, follow_redirects=False), TestClient(app, follow_redirects=False)
    sign_in(alice, "alice")
    bobs_token = sign_in(bob, "bob")
    assert alice.post("/decisions", data=decision_form(bobs_token)).status_code == 403
    assert runs.decisions == []


def test_post_from_another_origin_is_refused_even_with_the_token(
    web: TestClient, runs: RecordingRuns
) -> None:
    token = sign_in(web)
    for header in (
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"referer": "https://evil.example/x"},
    ):
        response = web.post("/decisions", data=decision_form(token), headers=header)
        assert response.status_code == 403
    assert runs.decisions == []


def test_a_session_cookie_edited_to_another_session_is_no_session(
    inbox_settings: Settings, runs: RecordingRuns
) -> None:
    app = build_app(inbox_settings, runs=runs)
    bob, alice = TestClient(app, follow_redirects=False), TestClient(app, follow_redirects=False)
    sign_in(bob, "bob")
    sign_in(alice, "alice")
    payload, timestamp, signature = bob.cookies["inbox_session"].split(".")
    session = json.loads(base64.b64decode(payload))
    assert set(session) == {"sid", "csrf"}  # a random session id, not a name
    alices = json.loads(base64.b64decode(alice.cookies["inbox_session"].split(".")[0]))
    forged = base64.b64encode(json.dumps({**session, "sid": alices["sid"]}).encode()).decode()
    forger = TestClient(
        app, follow_redirects=False, cookies={"inbox_session": f"{forged}.{timestamp}.{signature}"}
    )
    assert forger.get("/").status_code == 303


def test_a_copied_cookie_stops_working_after_sign_out(inbox_settings: Settings, runs: RecordingRuns) -> None:
    app = build_app(inbox_settings, runs=runs)
    web = TestClient(app, follow_redirects=False)
    token = sign_in(web, "alice")
    copied = dict(web.cookies)  # what a proxy log, a shared machine or malware could keep
    assert web.post("/logout", data={"csrf_token": token}).status_code == 303

    replay = TestClient(app, follow_redirects=False, cookies=copied)
    assert replay.get("/").status_code == 303
    assert replay.get(f"/runs/{RUN_ID}").headers["location"].startswith("/login")
    refused = replay.post("/decisions", data=decision_form(token), headers={"origin": "http://testserver"})
    assert refused.status_code == 403 and "Sign in first" in refused.text
    assert runs.decisions == []


def test_a_session_ends_on_the_server_when_it_expires(inbox_settings: Settings, runs: RecordingRuns) -> None:
    clock = FakeClock()
    sessions = SessionRegistry(inbox_settings.inbox_session_max_age_s, clock=clock)
    web = TestClient(build_app(inbox_settings, runs=runs, sessions=sessions), follow_redirects=False)
    sign_in(web, "alice")
    clock.now += inbox_settings.inbox_session_max_age_s - 1
    assert web.get("/").status_code == 200
    clock.now += 1  # the cookie is still there and still signed; the session is not
    assert web.get("/").status_code == 303


def test_session_ends_when_the_reviewer_is_removed(
    inbox_settings: Settings, runs: RecordingRuns, reviewers_setting: str
) -> None:
    sessions = SessionRegistry(inbox_settings.inbox_session_max_age_s)
    web = TestClient(build_app(inbox_settings, runs=runs, sessions=sessions), follow_redirects=False)
    sign_in(web, "carol")
    without_carol = ",".join(e for e in reviewers_setting.split(",") if not e.startswith("carol:"))
    smaller = inbox_settings.model_copy(update={"inbox_reviewers": SecretStr(without_carol)})
    same_sessions = build_app(inbox_settings, runs=runs, sessions=sessions)
    assert TestClient(same_sessions, follow_redirects=False, cookies=web.cookies).get("/").status_code == 200
    later = TestClient(
        build_app(smaller, runs=runs, sessions=sessions), follow_redirects=False, cookies=web.cookies
    )
    assert later.get("/").status_code == 303


def test_a_decision_without_the_action_hash_is_refused(web: TestClient, runs: RecordingRuns) -> None:
    token = sign_in(web)
    for form in (
        decision_form(token, action_hash=""),
        {k: v for k, v in decision_form(token).items() if k != "action_hash"},
    ):
        response = web.post("/decisions", data=form, headers={"origin": "http://testserver"})
        assert response.status_code == 400
        assert "which action you reviewed" in response.text
    assert runs.decisions == []


def test_sign_in_redirects_only_within_the_site(web: TestClient) -> None:
    token = _token(web.get("/login").text)
    response = web.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORDS["alice"],
            "csrf_token": token,
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/"


def test_sign_out_needs_a_post_with_the_token(web: TestClient) -> None:
    token = sign_in(web)
    assert web.post("/logout", data={"csrf_token": "nope"}).status_code == 403
    assert web.get("/").status_code == 200
    assert web.post("/logout", data={"csrf_token": token}).status_code == 303
    assert web.get("/").status_code == 303


def test_inbox_refuses_to_start_without_reviewers(settings: Settings) -> None:
    with pytest.raises(SettingsError, match="INBOX_REVIEWERS"):
        build_app(try_load_settings(llm_provider="offline", _env_file=None))


@pytest.mark.parametrize(
    ("left", "text"),
    [
        (timedelta(hours=26, minutes=5), "1 d 2 h 5 min left"),
        (timedelta(minutes=7, seconds=30), "7 min left"),
        (timedelta(minutes=-3), "overdue by 3 min"),
        (None, "no deadline"),
    ],
)
def test_time_left_reads_as_words(left: timedelta | None, text: str) -> None:
    assert format_time_left(left) == text
