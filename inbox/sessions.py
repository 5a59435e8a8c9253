"""Server-side sessions: the signed cookie carries a random session id, and a session is valid only
while this registry holds it. Signing out removes it, so a copy of the cookie (a proxy log, a shared
machine, malware) stops working at once, unlike a signed cookie alone, which stays valid until it
expires.

The registry lives in the inbox process: a restart signs everyone out, and several inbox processes
behind one address each know only their own sessions (run one, or pin each browser to one process).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Session", "SessionRegistry"]

MAX_SESSIONS = 10_000  # past this the oldest session ends: sign-ins cannot exhaust memory


@dataclass(frozen=True)
class Session:
    reviewer: str
    expires_at: float


class SessionRegistry:
    """Sessions by the SHA-256 of their id: the table itself holds no usable cookie value."""

    def __init__(self, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s = max_age_s
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def start(self, reviewer: str) -> str:
        """A new session for `reviewer`; returns its id (for the cookie)."""
        now = self._clock()
        for key in [key for key, session in self._sessions.items() if session.expires_at <= now]:
            del self._sessions[key]
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        session_id = secrets.token_urlsafe(32)
        self._sessions[self._key(session_id)] = Session(reviewer, now + self.max_age_s)
        return session_id

    def reviewer(self, session_id: str) -> str | None:
        """The reviewer of a live session, else None (unknown, ended or expired)."""
        key = self._key(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        if self._clock() >= session.expires_at:
            del self._sessions[key]
            return None
        return session.reviewer

    def end(self, session_id: str) -> None:
        self._sessions.pop(self._key(session_id), None)
