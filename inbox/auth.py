"""Who is signed in: the configured reviewers, their passwords, and the session.

The session cookie (starlette's `SessionMiddleware`, signed with `INBOX_SECRET_KEY`) holds a random
session id and a CSRF token; the id means a reviewer only while the server-side `SessionRegistry`
holds it (sign-out ends it there). The approver sent to a workflow is always
`signed_in_reviewer(request)`, never anything the browser submits.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass, field
from functools import cache

from starlette.requests import Request

from common.settings import SettingsError, named_entries
from inbox.passwords import InvalidPasswordHash, check_hash_format, hash_password, verify_password
from inbox.sessions import SessionRegistry

__all__ = ["SESSION_CSRF", "SESSION_FLASH", "ReviewerDirectory", "sign_in", "sign_out", "signed_in_reviewer"]

_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")
SESSION_ID = "sid"
SESSION_CSRF = "csrf"
SESSION_FLASH = "flash"
# scrypt checks running at once (each in a thread, ~50 ms and 16 MiB): more only queue up.
PASSWORD_CHECKS_AT_ONCE = 4


@dataclass(frozen=True)
class ReviewerDirectory:
    """The reviewers allowed to sign in, by name, with their password hashes."""

    hashes: dict[str, str]
    _slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(PASSWORD_CHECKS_AT_ONCE), compare=False, repr=False
    )

    @classmethod
    def parse(cls, setting: str) -> ReviewerDirectory:
        """`alice:HASH,bob:HASH` (INBOX_REVIEWERS); raises `SettingsError` naming the variable."""
        hashes: dict[str, str] = {}
        try:
            entries = list(
                named_entries(
                    setting, _NAME, expected="expected NAME:HASH", twice="reviewer {name!r} is listed twice"
                )
            )
        except ValueError as error:
            raise SettingsError(f"INBOX_REVIEWERS: {error}") from None
        for _, name, stored in entries:
            try:
                check_hash_format(stored)
            except InvalidPasswordHash as error:
                raise SettingsError(f"INBOX_REVIEWERS: reviewer {name!r}: {error}") from None
            hashes[name] = stored
        return cls(hashes)

    def authenticate(self, name: str, password: str) -> str | None:
        """The reviewer's name if the password is theirs, else None; the same work either way, so
        response time does not tell which names exist."""
        stored = self.hashes.get(name)
        if stored is None:
            verify_password(password, _decoy_hash())
            return None
        return name if verify_password(password, stored) else None

    async def check(self, name: str, password: str) -> str | None:
        """`authenticate` in a worker thread: scrypt releases the GIL, so a burst of sign-ins
        does not stall the event loop (and every other request) for 50 ms per guess."""
        async with self._slots:
            return await asyncio.to_thread(self.authenticate, name, password)

    def __contains__(self, name: object) -> bool:
        return name in self.hashes


@cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _registry(request: Request) -> SessionRegistry:
    registry: SessionRegistry = request.app.state.sessions
    return registry


def signed_in_reviewer(request: Request) -> str | None:
    """The reviewer of this request's live session, if they are still a configured reviewer."""
    session_id = request.session.get(SESSION_ID)
    if not isinstance(session_id, str):
        return None
    name = _registry(request).reviewer(session_id)
    directory: ReviewerDirectory = request.app.state.reviewers
    return name if name is not None and name in directory else None


def sign_in(request: Request, name: str) -> None:
    """A fresh session for `name`: nothing from before sign-in (such as a planted token) survives."""
    sign_out(request)
    request.session[SESSION_ID] = _registry(request).start(name)
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    """Ends the session on the server: the cookie, and any copy of it, means nobody from now on."""
    session_id = request.session.get(SESSION_ID)
    if isinstance(session_id, str):
        _registry(request).end(session_id)
    request.session.clear()
