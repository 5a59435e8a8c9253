"""Sign-in attempt limits: per reviewer name and per client address, with a lockout that grows.

An attempt is counted when it starts (before the password check, which runs in a thread), so a
burst of concurrent guesses cannot all slip in before the first one fails. A key that reaches its
limit within the window is locked: the first lockout lasts one window, each further one twice the
last, up to the maximum; a key quiet for the maximum lockout starts over. A successful sign-in
clears the reviewer's key and gives the address its attempt back.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from common.settings import Settings

__all__ = ["AttemptLimiter", "Lockout", "LoginLimits"]

MAX_KEYS = 10_000  # the least recently seen key is forgotten past this: bounded memory


@dataclass(frozen=True)
class Lockout:
    """Why an attempt is refused and for how long."""

    subject: str  # "reviewer" or "address"
    retry_after_s: float


@dataclass
class _Key:
    attempts: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    strikes: int = 0


class AttemptLimiter:
    """Attempts per key (a reviewer name, an address) within `window_s`."""

    def __init__(
        self, max_attempts: int, window_s: float, max_lockout_s: float, clock: Callable[[], float]
    ) -> None:
        self.max_attempts = max_attempts
        self.window_s = window_s
        self.max_lockout_s = max_lockout_s
        self._clock = clock
        self._keys: OrderedDict[str, _Key] = OrderedDict()

    def _state(self, key: str) -> _Key:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
            if len(self._keys) > MAX_KEYS:
                self._keys.popitem(last=False)
        self._keys.move_to_end(key)
        return state

    def locked_for(self, key: str) -> float:
        """Seconds left of the key's lockout (0 when it may try)."""
        state = self._keys.get(key)
        return max(0.0, state.locked_until - self._clock()) if state else 0.0

    def attempt(self, key: str) -> float:
        """Counts an attempt; returns 0 when it may go ahead, else the seconds to wait."""
        now = self._clock()
        state = self._state(key)
        if now < state.locked_until:
            return state.locked_until - now
        if state.strikes and now - state.locked_until > self.max_lockout_s:
            state.strikes = 0  # quiet long enough: the back-off starts over
        while state.attempts and state.attempts[0] <= now - self.window_s:
            state.attempts.popleft()
        if len(state.attempts) >= self.max_attempts:
            state.strikes += 1
            lockout = min(self.window_s * 2 ** (state.strikes - 1), self.max_lockout_s)
            state.locked_until = now + lockout
            state.attempts.clear()
            return lockout
        state.attempts.append(now)
        return 0.0

    def give_back(self, key: str) -> None:
        """A successful attempt does not count against the key."""
        state = self._keys.get(key)
        if state is not None and state.attempts:
            state.attempts.pop()

    def clear(self, key: str) -> None:
        self._keys.pop(key, None)


class LoginLimits:
    """The two limits of the sign-in form (INBOX_LOGIN_* settings)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        window, cap = settings.inbox_login_window_s, settings.inbox_login_max_lockout_s
        self.reviewers = AttemptLimiter(settings.inbox_login_max_attempts, window, cap, clock)
        self.addresses = AttemptLimiter(settings.inbox_login_max_attempts_per_address, window, cap, clock)

    def attempt(self, name: str, address: str) -> Lockout | None:
        """Counts a sign-in attempt for `name` from `address`; a `Lockout` when it must not go ahead.
        Names are counted whether or not they exist, so a lockout does not tell which ones do."""
        wait = self.addresses.locked_for(address)
        if wait:
            return Lockout("address", wait)
        wait = self.reviewers.attempt(name.lower())
        if wait:
            return Lockout("reviewer", wait)
        wait = self.addresses.attempt(address)
        if wait:
            self.reviewers.give_back(name.lower())
            return Lockout("address", wait)
        return None

    def succeeded(self, name: str, address: str) -> None:
        self.reviewers.clear(name.lower())
        self.addresses.give_back(address)
