"""The inbox web app (Starlette): sign-in, the list of runs awaiting approval, a run's page, the
decision form, and the session pages (inbox/sessions_page.py). Server-rendered HTML; no script runs
on any page but a session's conversation page (one same-origin file, for its live updates)."""

from __future__ import annotations

import logging
import math
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.login_limits import format_wait
from common.settings import Settings, SettingsError
from inbox.auth import SESSION_FLASH, ReviewerDirectory, sign_in, sign_out, signed_in_reviewer
from inbox.csrf import CrossSiteRequest, check_post
from inbox.limits import Lockout, LoginLimits
from inbox.pages import error_page as _error
from inbox.pages import render as _render
from inbox.pages import reviewer_only
from inbox.runs import RunNotFound, Runs, TemporalRuns
from inbox.session_runs import SessionRuns, TemporalSessionRuns
from inbox.sessions import SessionRegistry
from inbox.sessions_page import SESSION_ROUTES
from inbox.signing import InboxSigner
from workflows.models import ActionField, ApprovalDecision, ProposedAction

__all__ = [
    "build_app",
    "format_time_left",
    "format_usd",
    "format_when",
    "is_long",
    "targets_first",
]

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
MAX_COMMENT = 2000
LONG_VALUE_CHARS, LONG_VALUE_LINES = 400, 8
SECURITY_HEADERS = {
    # No script runs on these pages (a session's page sets its own policy: one same-origin script);
    # forms may only post back here; nobody may frame them.
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def format_time_left(left: timedelta | None) -> str:
    if left is None:
        return "no deadline"
    seconds = int(left.total_seconds())
    minutes, _ = divmod(abs(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours or days else []
    parts.append(f"{minutes} min")
    text = " ".join(parts)
    return f"{text} left" if seconds >= 0 else f"overdue by {text}"


def format_usd(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def targets_first(proposed: ProposedAction) -> list[ActionField]:
    """The action's fields, where it goes first (in their order), then every other argument."""
    return [f for f in proposed.fields if f.target] + [f for f in proposed.fields if not f.target]


def is_long(value: str) -> bool:
    """Long enough to be folded (the page keeps it whole, in a <details> block)."""
    return len(value) > LONG_VALUE_CHARS or value.count("\n") >= LONG_VALUE_LINES


def format_when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _safe_next(target: object) -> str:
    """Only a path on this site (never `//evil.example` or a full URL) after sign-in."""
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return "/"


async def login_page(request: Request) -> Response:
    if signed_in_reviewer(request):
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    context = {"next": _safe_next(request.query_params.get("next")), "failed": False, "username": ""}
    return _render(request, "login.html", {**context, "locked": ""})


def _locked_out(request: Request, lockout: Lockout, context: dict[str, Any]) -> Response:
    who = "for this reviewer" if lockout.subject == "reviewer" else "from your network address"
    message = (
        f"Too many sign-in attempts {who}. Try again in {format_wait(lockout.retry_after_s)}; "
        "until then no password is checked."
    )
    response = _render(request, "login.html", {**context, "locked": message}, status_code=429)
    response.headers["retry-after"] = str(math.ceil(lockout.retry_after_s))
    return response


def _client_address(request: Request) -> str:
    # The peer of the TCP connection (uvicorn runs without proxy headers): behind a reverse proxy,
    # every browser shares the proxy's address and its limit (docs/inbox.md).
    return request.client.host if request.client else "unknown"


async def login(request: Request) -> Response:
    form = await request.form()
    check_post(request, form.get("csrf_token"))
    name, password = str(form.get("username", "")).strip()[:200], str(form.get("password", ""))
    context = {"next": _safe_next(form.get("next")), "username": name, "locked": ""}
    if not name or not password:
        return _render(request, "login.html", {**context, "failed": True}, status_code=401)
    limits: LoginLimits = request.app.state.login_limits
    address = _client_address(request)
    lockout = limits.attempt(name, address)
    if lockout is not None:
        log.warning("inbox sign-in locked out (%s) for %r from %s", lockout.subject, name[:100], address)
        return _locked_out(request, lockout, {**context, "failed": False})
    directory: ReviewerDirectory = request.app.state.reviewers
    reviewer = await directory.check(name, password)
    if reviewer is None:
        log.info("inbox sign-in refused for %r from %s", name[:100], address)
        return _render(request, "login.html", {**context, "failed": True}, status_code=401)
    limits.succeeded(name, address)
    sign_in(request, reviewer)
    log.info("inbox sign-in: %s", reviewer)
    return RedirectResponse(_safe_next(form.get("next")), status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form()
    check_post(request, form.get("csrf_token"))
    sign_out(request)
    return RedirectResponse("/login", status_code=303)


@reviewer_only
async def inbox_page(request: Request, reviewer: str) -> Response:
    runs: Runs = request.app.state.runs
    pending = await runs.pending()
    now = datetime.now(UTC)
    return _render(request, "inbox.html", {"runs": pending, "now": now})


@reviewer_only
async def run_page(request: Request, reviewer: str) -> Response:
    runs: Runs = request.app.state.runs
    workflow_id = request.path_params["workflow_id"]
    try:
        run = await runs.detail(workflow_id)
    except RunNotFound:
        return _error(request, 404, f"No run with id {workflow_id}.")
    flash = request.session.pop(SESSION_FLASH, None)
    pending = run.status.pending_approval if run.status else None
    left = pending.deadline - datetime.now(UTC) if pending else None
    return _render(
        request,
        "run.html",
        {"run": run, "pending": pending, "time_left": left, "flash": flash, "form_id": uuid.uuid4().hex},
    )


@reviewer_only
async def decide(request: Request, reviewer: str) -> Response:
    form = await request.form()
    check_post(request, form.get("csrf_token"))
    workflow_id = str(form.get("workflow_id", ""))
    choice = form.get("decision")
    if not workflow_id or choice not in ("approve", "reject"):
        return _error(request, 400, "The form needs a run and a decision (approve or reject).")
    comment = str(form.get("comment", "")).strip()
    if len(comment) > MAX_COMMENT:
        return _error(request, 400, f"The comment is longer than {MAX_COMMENT} characters.")
    # The decision is bound to the action the page showed: without its hash there is nothing to bind.
    action_hash = str(form.get("action_hash", "")).strip()
    if not action_hash:
        return _error(
            request,
            400,
            "The form does not say which action you reviewed; reload the run's page and decide again.",
        )
    # The approver is whoever is signed in; nothing in the form can change it.
    approved = choice == "approve"
    decision = ApprovalDecision(
        approver=reviewer,
        approved=approved,
        comment=comment,
        action_hash=action_hash,
        # "For the rest of this run" goes with an approval only.
        for_run=approved and form.get("for_run") == "yes",
    )
    signer: InboxSigner | None = request.app.state.signer
    if signer is not None:  # signed for the reviewer this session proved, over the hash the page showed
        decision = signer.sign(workflow_id, decision)
    form_id = str(form.get("form_id", ""))[:64] or uuid.uuid4().hex
    runs: Runs = request.app.state.runs
    outcome = await runs.decide(
        workflow_id,
        decision,
        expected_hash=action_hash,
        # The same form submitted twice (a double click) is one Update, not a repeat.
        update_id=f"inbox/{reviewer}/{form_id}",
    )
    log.info("inbox decision on %s by %s: %s (%s)", workflow_id, reviewer, choice, outcome.message)
    request.session[SESSION_FLASH] = {"ok": outcome.accepted, "text": outcome.message}
    # Back to the page the form was on: a session's conversation page, or the run's page.
    page = "sessions" if form.get("back") == "session" else "runs"
    return RedirectResponse(f"/{page}/{quote(workflow_id, safe='')}", status_code=303)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _cross_site(request: Request, exc: Exception) -> Response:
    log.warning("inbox refused a cross-site request: %s", exc)
    return _error(request, 403, f"Refused: {exc}")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(request, exc.status_code, str(exc.detail))


def build_app(
    settings: Settings,
    *,
    runs: Runs | None = None,
    sessions: SessionRegistry | None = None,
    login_limits: LoginLimits | None = None,
    session_runs: SessionRuns | None = None,
) -> Starlette:
    """The ASGI app. Without `runs`, it connects to Temporal (from `settings`) on start-up (and
    serves the session pages too; with `runs` given, those need `session_runs`)."""
    if settings.inbox_reviewers is None or not settings.inbox_reviewers.get_secret_value().strip():
        raise SettingsError(
            "INBOX_REVIEWERS: no reviewers configured; set NAME:HASH pairs "
            "(make a hash with `python -m inbox hash-password`)"
        )
    reviewers = ReviewerDirectory.parse(settings.inbox_reviewers.get_secret_value())
    signer = InboxSigner.from_settings(settings)  # a key file it cannot use stops the inbox here
    if settings.inbox_secret_key is not None and settings.inbox_secret_key.get_secret_value():
        secret_key = settings.inbox_secret_key.get_secret_value()
    else:
        log.warning("INBOX_SECRET_KEY is not set: sessions end when this process stops")
        secret_key = secrets.token_urlsafe(32)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runs is None:
            from common.client import connect

            client = await connect(settings)
            app.state.runs = TemporalRuns(client, web_ui=settings.temporal_web_ui)
            app.state.session_runs = TemporalSessionRuns(client)
        yield

    # StrictUndefined: a name missing from a template's context is an error, not an empty string.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    templates = Jinja2Templates(env=environment)
    templates.env.filters.update(
        time_left=format_time_left,
        usd=format_usd,
        when=format_when,
        targets_first=targets_first,
        is_long=is_long,
    )
    templates.env.globals["new_form_id"] = lambda: uuid.uuid4().hex
    app = Starlette(
        routes=[
            Route("/", inbox_page),
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/decisions", decide, methods=["POST"]),
            Route("/runs/{workflow_id:path}", run_page),
            *SESSION_ROUTES,
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=secret_key,
                session_cookie="inbox_session",
                max_age=settings.inbox_session_max_age_s,
                same_site="lax",
                https_only=settings.inbox_cookie_secure,
            ),
        ],
        exception_handlers={CrossSiteRequest: _cross_site, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.reviewers = reviewers
    app.state.signer = signer
    app.state.sessions = sessions or SessionRegistry(settings.inbox_session_max_age_s)
    app.state.login_limits = login_limits or LoginLimits(settings)
    app.state.templates = templates
    if runs is not None:
        app.state.runs = runs
    app.state.session_runs = session_runs
    return app
