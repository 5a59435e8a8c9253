"""Sign-in attempt limits of the inbox: per reviewer name and per client address, with a lockout
that grows (the shared mechanism: common/login_limits.py).

An attempt is counted when it starts (before the password check, which runs in a thread), so a
burst of concurrent guesses cannot all slip in before the first one fails. A successful sign-in
clears the reviewer's key and gives the address its attempt back.

Names are counted whether or not they are reviewers', so a lockout does not tell which ones are.
The configured reviewers' counts are kept apart from the others' and never forgotten (their number
is the configuration's): the made-up names' counts are bounded, the least recently tried forgotten
past `MAX_KEYS`, and an attacker spraying made-up names must not evict the lockout of the reviewer
they are guessing (security review, issue 29).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from common.login_limits import AttemptLimiter
from common.settings import Settings
from inbox.auth import ReviewerDirectory

__all__ = ["Lockout", "LoginLimits"]


@dataclass(frozen=True)
class Lockout:
    """Why an attempt is refused and for how long."""

    subject: str  # "reviewer" or "address"
    retry_after_s: float


class LoginLimits:
    """The two limits of the sign-in form (INBOX_LOGIN_* settings); the reviewers are those of
    INBOX_REVIEWERS (`SettingsError` when it does not parse)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        window, cap = settings.inbox_login_window_s, settings.inbox_login_max_lockout_s
        per_name = settings.inbox_login_max_attempts
        configured = settings.inbox_reviewers.get_secret_value() if settings.inbox_reviewers else ""
        # Lower case: "Bob" is not a name of its own with a fresh count next to "bob".
        self._reviewer_names = frozenset(name.lower() for name in ReviewerDirectory.parse(configured).hashes)
        self.reviewers = AttemptLimiter(per_name, window, cap, clock, max_keys=None)
        self.other_names = AttemptLimiter(per_name, window, cap, clock)
        self.addresses = AttemptLimiter(settings.inbox_login_max_attempts_per_address, window, cap, clock)

    def _names(self, key: str) -> AttemptLimiter:
        return self.reviewers if key in self._reviewer_names else self.other_names

    def attempt(self, name: str, address: str) -> Lockout | None:
        """Counts a sign-in attempt for `name` from `address`; a `Lockout` when it must not go ahead."""
        wait = self.addresses.locked_for(address)
        if wait:
            return Lockout("address", wait)
        key = name.lower()
        names = self._names(key)
        wait = names.attempt(key)
        if wait:
            return Lockout("reviewer", wait)
        wait = self.addresses.attempt(address)
        if wait:
            names.give_back(key)
            return Lockout("address", wait)
        return None

    def succeeded(self, name: str, address: str) -> None:
        key = name.lower()
        self._names(key).clear(key)
        self.addresses.give_back(address)
