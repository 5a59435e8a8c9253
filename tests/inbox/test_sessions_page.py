"""The session pages through the inbox served by uvicorn (real HTTP), against the dev server with the
product's worker running SessionWorkflow on a scripted model: the list, a session's transcript
(escaped), a posted message recorded with the reviewer as its sender, a refused send showing the
validator's reason, CSRF refusals, and the live feed (server-sent events)."""

from __future__ import annotations

import asyncio
import html
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from markupsafe import escape
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from common.settings import Settings
from inbox.sessions_page import SESSION_PAGE_CSP
from tests.inbox.conftest import PASSWORDS
from tests.workflow.support import worker_with
from workflows.kit import SendRequest, SessionInput, SessionResult, TranscriptPage, TranscriptQuery
from workflows.kit.testing import ScriptedModel
from workflows.session import SessionWorkflow

pytestmark = pytest.mark.timeout(120)

HOSTILE = "<script>alert('x')</script> & <b>bold?</b>"
RULES: list[dict[str, Any]] = [
    {"match": {"contains": "slowly"}, "reply": {"text": "taking my time", "delay_s": 3}},
    {"match": {"contains": "<script>"}, "reply": {"text": "I see markup: <i>not italic</i>"}},
    {"match": {"contains": "weather"}, "reply": {"text": "Sunny, 21 degrees."}},
    {"reply": {"text": "Noted."}},
]


async def start_session(
    client: Client, settings: Settings, **fields: Any
) -> WorkflowHandle[Any, SessionResult]:
    return await client.start_workflow(
        SessionWorkflow.run,
        SessionInput(**fields),
        id=f"session-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal_task_queue,
    )


async def transcript_until(
    handle: WorkflowHandle[Any, Any], condition: Callable[[TranscriptPage], bool], timeout_s: float = 30.0
) -> TranscriptPage:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        page = await handle.query("transcript", TranscriptQuery(after=0), result_type=TranscriptPage)
        if condition(page):
            return page
        assert loop.time() < deadline, f"the transcript never matched: {page.model_dump_json()[:600]}"
        await asyncio.sleep(0.05)  # polling the workflow's own state, bounded


def answered(turns: int) -> Callable[[TranscriptPage], bool]:
    return lambda page: sum(1 for e in page.entries if e.turn_outcome == "answered") >= turns


def form_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no form token"
    return match.group(1)


def flash(page: str) -> str:
    match = re.search(r'data-testid="flash">([^<]*)<', page)
    assert match, "the page shows no outcome"
    return html.unescape(match.group(1))


@pytest_asyncio.fixture
async def alice(inbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in to the inbox as alice (through the sign-in form)."""
    async with httpx.AsyncClient(base_url=inbox_url, headers={"origin": inbox_url}, timeout=30) as http:
        login = await http.get("/login")
        signed_in = await http.post(
            "/login",
            data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": form_token(login.text)},
        )
        assert signed_in.status_code == 303
        yield http


@pytest_asyncio.fixture
async def worker(dev_client: Client, settings: Settings) -> AsyncIterator[ScriptedModel]:
    model = ScriptedModel(RULES)
    async with worker_with(dev_client, settings, [model.activity]):
        yield model


async def close_quietly(handle: WorkflowHandle[Any, Any]) -> None:
    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate("the test is over")


async def test_the_list_shows_sessions_open_first_and_a_page_shows_the_transcript_escaped(
    alice: httpx.AsyncClient, dev_client: Client, settings: Settings, worker: ScriptedModel
) -> None:
    closed = await start_session(dev_client, settings, first_message="hello")
    await transcript_until(closed, answered(1))
    await closed.execute_update("close", {"reason": "done"})
    await closed.result()
    handle = await start_session(dev_client, settings, first_message=HOSTILE)
    try:
        page = await transcript_until(handle, answered(1))
        listed = await alice.get("/sessions")
        assert listed.status_code == 200
        assert f'href="/sessions/{handle.id}"' in listed.text
        rows = re.findall(r'<tr data-workflow-id="([^"]+)" class="(open|closed)"', listed.text)
        ours = [row for row in rows if row[0] in (handle.id, closed.id)]
        assert ours == [(handle.id, "open"), (closed.id, "closed")]  # open ones first
        assert "script-src" not in listed.headers["content-security-policy"]

        shown = await alice.get(f"/sessions/{handle.id}")
        assert shown.status_code == 200
        assert shown.headers["content-security-policy"] == SESSION_PAGE_CSP
        assert "'unsafe-inline'" not in SESSION_PAGE_CSP
        assert "<script>alert" not in shown.text and "<i>not italic" not in shown.text
        assert str(escape(HOSTILE)) in shown.text
        assert "I see markup: &lt;i&gt;not italic&lt;/i&gt;" in shown.text
        assert f'data-after="{page.last_id}"' in shown.text
        # The only script is the same-origin file, in the head; none is inline.
        assert re.findall(r"<script[^>]*>", shown.text) == ['<script src="/static/session.js" defer>']

        # An id that names no run.
        assert (await alice.get(f"/sessions/{handle.id}-nope")).status_code == 404
    finally:
        await close_quietly(handle)


async def test_a_posted_message_is_recorded_with_the_signed_in_reviewer_as_its_sender(
    alice: httpx.AsyncClient, dev_client: Client, settings: Settings, worker: ScriptedModel
) -> None:
    handle = await start_session(dev_client, settings)
    try:
        token = form_token((await alice.get(f"/sessions/{handle.id}")).text)
        form = {"csrf_token": token, "workflow_id": handle.id, "mode": "queue", "form_id": "f1"}
        # A `sender` field is ignored: the sender is whoever is signed in.
        sent = await alice.post(
            "/messages", data={**form, "text": "what is the weather?", "sender": "mallory"}
        )
        assert sent.status_code == 303 and sent.headers["location"] == f"/sessions/{handle.id}"
        assert flash((await alice.get(sent.headers["location"])).text).startswith("Sent as message 1")
        # The same form submitted again (a double click) is the same message, not a second one.
        again = await alice.post("/messages", data={**form, "text": "what is the weather?"})
        assert again.status_code == 303
        # The page's script asks for JSON and gets a fresh form id for its next message.
        scripted = await alice.post(
            "/messages",
            data={**form, "form_id": "f2", "text": "and tomorrow?", "mode": "steer"},
            headers={"accept": "application/json"},
        )
        outcome = scripted.json()
        assert outcome["ok"] is True and outcome["form_id"] not in ("f1", "f2")
        page = await transcript_until(handle, answered(1))
    finally:
        await close_quietly(handle)
    users = [(e.text, e.sender) for e in page.entries if e.role == "user"]
    assert users == [("what is the weather?", "alice"), ("and tomorrow?", "alice")]


async def test_a_refused_send_shows_the_validators_reason(
    alice: httpx.AsyncClient, dev_client: Client, settings: Settings, worker: ScriptedModel
) -> None:
    handle = await start_session(dev_client, settings)
    try:
        token = form_token((await alice.get(f"/sessions/{handle.id}")).text)
        form = {"csrf_token": token, "workflow_id": handle.id, "mode": "queue"}
        empty = await alice.post(
            "/messages", data={**form, "text": "   ", "form_id": "e"}, follow_redirects=True
        )
        assert flash(empty.text) == "The session refused the message: a message needs text"

        await handle.execute_update("send", SendRequest(text="answer slowly"))
        await transcript_until(handle, lambda page: page.phase == "thinking")
        await handle.execute_update("close", {"reason": "the ticket is solved"})  # the turn still ends
        late = await alice.post(
            "/messages", data={**form, "text": "one more", "form_id": "l"}, follow_redirects=True
        )
        assert flash(late.text) == (
            "The session refused the message: the session is closed (the ticket is solved); start a new one"
        )
        as_json = await alice.post(
            "/messages",
            data={**form, "text": "one more", "form_id": "j"},
            headers={"accept": "application/json"},
        )
        assert as_json.json()["ok"] is False and "the session is closed" in as_json.json()["text"]
        result = await handle.result()
        ended = await alice.post(
            "/messages", data={**form, "text": "hello?", "form_id": "x"}, follow_redirects=True
        )
        assert flash(ended.text) == "The session has ended; nothing was sent."
    finally:
        await close_quietly(handle)
    assert result.last_reply == "taking my time"


async def test_a_message_without_the_form_token_or_from_another_site_is_refused(
    alice: httpx.AsyncClient, inbox_url: str, dev_client: Client, settings: Settings, worker: ScriptedModel
) -> None:
    handle = await start_session(dev_client, settings)
    try:
        token = form_token((await alice.get(f"/sessions/{handle.id}")).text)
        form = {"workflow_id": handle.id, "text": "forged", "mode": "queue"}
        no_token = await alice.post("/messages", data=form)
        assert no_token.status_code == 403 and "the form has no valid token" in no_token.text
        wrong = await alice.post("/messages", data={**form, "csrf_token": token + "x"})
        assert wrong.status_code == 403
        foreign = await alice.post(
            "/messages", data={**form, "csrf_token": token}, headers={"origin": "https://evil.example"}
        )
        assert foreign.status_code == 403 and "evil.example" in foreign.text
        async with httpx.AsyncClient(base_url=inbox_url) as stranger:
            nobody = await stranger.post("/messages", data={**form, "csrf_token": token})
            assert nobody.status_code == 403 and "Sign in first" in nobody.text
            assert (await stranger.get(f"/feed/{handle.id}")).status_code == 403
        page = await handle.query("transcript", TranscriptQuery(after=0), result_type=TranscriptPage)
        assert page.entries == []  # nothing was sent
    finally:
        await close_quietly(handle)


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a server-sent event stream; comments (keep-alives) are skipped."""
    event, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and data:
            yield event, json.loads(data)
            event, data = "message", ""


async def test_the_feed_brings_new_messages_the_reply_and_the_end_of_the_session(
    alice: httpx.AsyncClient, dev_client: Client, settings: Settings, worker: ScriptedModel
) -> None:
    handle = await start_session(dev_client, settings, first_message="hello")
    try:
        await transcript_until(handle, answered(1))
        shown_page = (await alice.get(f"/sessions/{handle.id}")).text
        feed_path = re.search(r'data-feed="([^"]+)"', shown_page)
        after = re.search(r'data-after="(\d+)"', shown_page)
        offset = re.search(r'data-offset="(\d+)"', shown_page)
        assert feed_path and after and offset, "the page says where its feed starts"
        feed_url = f"{feed_path.group(1)}?after={after.group(1)}&offset={offset.group(1)}"
        seen: list[str] = []
        async with alice.stream("GET", feed_url) as feed:
            assert feed.headers["content-type"].startswith("text/event-stream")
            events = sse_events(feed)
            await handle.execute_update("send", SendRequest(text="how is the <weather>?", sender="bob"))
            async with asyncio.timeout(30):
                async for event, data in events:
                    if event == "entries":
                        seen.append(data["html"])
                        if "Sunny, 21 degrees." in data["html"]:
                            break
            await handle.execute_update("close", {"reason": "bye"})
            async with asyncio.timeout(30):
                ended = [event async for event, _ in events]
        assert ended[-1] == "ended"
    finally:
        await close_quietly(handle)
    shown = "".join(seen)
    assert "how is the &lt;weather&gt;?" in shown and "bob" in shown
    assert "hello" not in shown  # the entries the page already had are not sent again
