"""The session pages: the list of sessions (`SessionWorkflow` runs), a session's conversation page
(transcript, the reply as it is written, the message box, the turn's pending approval with the
inbox's own decision form), the message form's POST (the `send` Update, sent as the signed-in
reviewer) and the page's live feed (server-sent events, read from Temporal by Query).

The conversation page is the one page with a script: /static/session.js, same-origin, allowed by
that page's own Content-Security-Policy (`script-src 'self'; connect-src 'self'`, no inline
script). Without it the page still works: the form posts and the page comes back (reload it to
see the reply).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from common.contracts.sessions import MAX_MESSAGE_BYTES, SendRequest
from inbox.auth import SESSION_FLASH, signed_in_reviewer
from inbox.csrf import check_post
from inbox.pages import error_page, render, render_fragment, reviewer_only
from inbox.runs import RunNotFound, Runs
from inbox.session_feed import Ended, NewEntries, Position, Quiet, ReplyText, StatusChanged, follow
from inbox.session_runs import SESSION_WORKFLOW, SessionRuns
from workflows.models import PendingApproval

__all__ = ["SESSION_PAGE_CSP", "SESSION_ROUTES"]

log = logging.getLogger(__name__)
MODES = ("queue", "steer", "interrupt")
# The app's policy plus one same-origin script and its connections (the feed, the message POST).
SESSION_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
RECONNECT_MS = 2000  # how soon a browser reconnects to the feed (it resumes where it was)


def _session_runs(request: Request) -> SessionRuns | None:
    runs: SessionRuns | None = request.app.state.session_runs
    return runs


def _session_url(workflow_id: str) -> str:
    return f"/sessions/{quote(workflow_id, safe='')}"


@reviewer_only
async def sessions_list(request: Request, reviewer: str) -> Response:
    runs = _session_runs(request)
    if runs is None:
        return error_page(request, 503, "This inbox serves no sessions (it is not connected to Temporal).")
    return render(request, "sessions.html", {"sessions": await runs.list_sessions()})


@reviewer_only
async def session_page(request: Request, reviewer: str) -> Response:
    sessions = _session_runs(request)
    if sessions is None:
        return error_page(request, 503, "This inbox serves no sessions (it is not connected to Temporal).")
    workflow_id = request.path_params["workflow_id"]
    runs: Runs = request.app.state.runs
    try:
        run = await runs.detail(workflow_id)
    except RunNotFound:
        return error_page(request, 404, f"No session with id {workflow_id}.")
    if run.workflow_type != SESSION_WORKFLOW:
        return RedirectResponse(f"/runs/{quote(workflow_id, safe='')}", status_code=303)
    position, entries, transcript_error = Position(), [], ""
    try:
        # The offset first: whatever is published after it reaches the page through the feed.
        position.offset = await sessions.stream_offset(workflow_id)
        page = await sessions.transcript(workflow_id, 0)
        entries, position.after = page.entries, page.last_id
    except (RPCError, WorkflowQueryFailedError) as error:
        transcript_error = str(error)
    pending = run.status.pending_approval if run.status else None
    context = {
        "run": run,
        "entries": entries,
        "position": position,
        "transcript_error": transcript_error,
        "flash": request.session.pop(SESSION_FLASH, None),
        "modes": MODES,
        "max_bytes": MAX_MESSAGE_BYTES,
        "form_id": uuid.uuid4().hex,
        **_approval_context(run.workflow_id, pending),
    }
    response = render(request, "session.html", context)
    response.headers["content-security-policy"] = SESSION_PAGE_CSP
    return response


def _approval_context(workflow_id: str, pending: PendingApproval | None) -> dict[str, Any]:
    """What session_approval.html needs: the pending request, shown and decided as on a run's page."""
    return {"workflow_id": workflow_id, "pending": pending, "decision_form_id": uuid.uuid4().hex}


@reviewer_only
async def send_message(request: Request, reviewer: str) -> Response:
    form = await request.form()
    check_post(request, form.get("csrf_token"))
    wants_json = "application/json" in request.headers.get("accept", "")
    workflow_id = str(form.get("workflow_id", ""))
    mode = str(form.get("mode", "queue"))
    if not workflow_id or mode not in MODES:
        return error_page(request, 400, "The form needs a session and a mode (queue, steer or interrupt).")
    sessions = _session_runs(request)
    if sessions is None:
        return error_page(request, 503, "This inbox serves no sessions (it is not connected to Temporal).")
    # The sender is whoever is signed in; the session's validator judges the text.
    message = SendRequest(text=str(form.get("text", "")), mode=mode, sender=reviewer)
    form_id = str(form.get("form_id", ""))[:64] or uuid.uuid4().hex
    # The same form submitted twice (a double click) is one message, not two.
    outcome = await sessions.send(workflow_id, message, update_id=f"inbox/{reviewer}/{form_id}")
    log.info("inbox message to %s by %s (%s): %s", workflow_id, reviewer, mode, outcome.message)
    if wants_json:
        # The page's script: it shows the outcome and takes a fresh form id for the next message.
        return JSONResponse({"ok": outcome.accepted, "text": outcome.message, "form_id": uuid.uuid4().hex})
    request.session[SESSION_FLASH] = {"ok": outcome.accepted, "text": outcome.message}
    return RedirectResponse(_session_url(workflow_id), status_code=303)


async def session_feed(request: Request) -> Response:
    """Server-sent events of one session for its page: `entries` (HTML of new transcript entries),
    `reply` (text being written), `status` (phase, turn and the approval section's HTML) and `ended`.
    Each event's id is where the page is, so a reconnecting browser resumes there."""
    reviewer = signed_in_reviewer(request)
    if reviewer is None:
        return PlainTextResponse("Sign in first.", status_code=403)
    sessions = _session_runs(request)
    if sessions is None:
        return PlainTextResponse("This inbox serves no sessions.", status_code=503)
    workflow_id = request.path_params["workflow_id"]
    query = request.query_params
    position = Position.parse(request.headers.get("last-event-id", "")) or Position.parse(
        f"{query.get('after', '0')}.{query.get('offset', '0')}"
    )
    if position is None:
        return PlainTextResponse("after and offset are whole numbers.", status_code=400)

    async def events() -> AsyncIterator[str]:
        yield f"retry: {RECONNECT_MS}\n\n"
        async for event in follow(sessions, workflow_id, position):
            if signed_in_reviewer(request) != reviewer:  # signed out (or expired) meanwhile
                yield _sse("signed_out", {})
                return
            if isinstance(event, Quiet):
                yield ": quiet\n\n"  # keeps proxies from closing an idle connection
            elif isinstance(event, NewEntries):
                html = render_fragment(request, "session_entries.html", {"entries": event.entries})
                yield _sse("entries", {"html": html}, position.token())
            elif isinstance(event, ReplyText):
                yield _sse("reply", {"step": event.step, "attempt": event.attempt, "text": event.text})
            elif isinstance(event, StatusChanged):
                approval = render_fragment(
                    request, "session_approval.html", _approval_context(workflow_id, event.pending)
                )
                yield _sse("status", {"phase": event.phase, "turn": event.turn, "approval_html": approval})
            elif isinstance(event, Ended):
                yield _sse("ended", {}, position.token())
                return

    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _sse(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    lines = [f"event: {event}", *([f"id: {event_id}"] if event_id else []), f"data: {json.dumps(data)}"]
    return "\n".join(lines) + "\n\n"


SESSION_ROUTES = [
    Route("/sessions", sessions_list),
    Route("/sessions/{workflow_id:path}", session_page),
    Route("/messages", send_message, methods=["POST"]),
    Route("/feed/{workflow_id:path}", session_feed),
]
