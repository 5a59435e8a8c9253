"""Who is signed in: the configured reviewers, their passwords, and the signed session cookie.

The session (starlette's `SessionMiddleware`, signed with `INBOX_SECRET_KEY`) holds the reviewer's
name and a CSRF token. The approver sent to a workflow is always `signed_in_reviewer(request)`,
never anything the browser submits.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import cache

from starlette.requests import Request

from common.settings import SettingsError
from inbox.passwords import InvalidPasswordHash, check_hash_format, hash_password, verify_password

_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")
SESSION_REVIEWER = "reviewer"
SESSION_CSRF = "csrf"
SESSION_FLASH = "flash"


@dataclass(frozen=True)
class ReviewerDirectory:
    """The reviewers allowed to sign in, by name, with their password hashes."""

    hashes: dict[str, str]

    @classmethod
    def parse(cls, setting: str) -> ReviewerDirectory:
        """`alice:HASH,bob:HASH` (INBOX_REVIEWERS); raises `SettingsError` naming the variable."""
        hashes: dict[str, str] = {}
        for entry in (part.strip() for part in setting.split(",")):
            if not entry:
                continue
            name, sep, stored = entry.partition(":")
            name = name.strip()
            if not sep or not _NAME.match(name):
                raise SettingsError(
                    f"INBOX_REVIEWERS: expected NAME:HASH, got an entry starting {entry[:12]!r}"
                )
            if name in hashes:
                raise SettingsError(f"INBOX_REVIEWERS: reviewer {name!r} is listed twice")
            try:
                check_hash_format(stored.strip())
            except InvalidPasswordHash as error:
                raise SettingsError(f"INBOX_REVIEWERS: reviewer {name!r}: {error}") from None
            hashes[name] = stored.strip()
        return cls(hashes)

    def authenticate(self, name: str, password: str) -> str | None:
        """The reviewer's name if the password is theirs, else None; the same work either way, so
        response time does not tell which names exist."""
        stored = self.hashes.get(name)
        if stored is None:
            verify_password(password, _decoy_hash())
            return None
        return name if verify_password(password, stored) else None

    def __contains__(self, name: object) -> bool:
        return name in self.hashes


@cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def signed_in_reviewer(request: Request) -> str | None:
    """The reviewer of this request's session, if they are still a configured reviewer."""
    name = request.session.get(SESSION_REVIEWER)
    directory: ReviewerDirectory = request.app.state.reviewers
    return name if isinstance(name, str) and name in directory else None


def sign_in(request: Request, name: str) -> None:
    """A fresh session for `name`: nothing from before sign-in (such as a planted token) survives."""
    request.session.clear()
    request.session[SESSION_REVIEWER] = name
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    request.session.clear()
