"""Sign-in attempt limits per key (a name, a client address), with a lockout that grows: the
approval inbox's sign-in form (inbox/limits.py) and the codec server's `/login` share them.

A key that reaches its limit within the window is locked: the first lockout lasts one window, each
further one twice the last, up to the maximum; a key quiet for the maximum lockout starts over.
While a key is locked its attempts are refused without being counted (and without a credential
check), so waiting out the lockout is the only way back.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["MAX_KEYS", "AttemptLimiter", "format_wait"]

MAX_KEYS = 10_000  # by default the least recently seen key is forgotten past this: bounded memory


@dataclass
class _Key:
    attempts: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    strikes: int = 0


class AttemptLimiter:
    """Attempts per key within `window_s`. It remembers at most `max_keys` keys, forgetting the
    least recently seen one (its count and lockout) past that; `max_keys=None` forgets none, for
    keys whose number the configuration bounds (an attacker must not be able to evict those)."""

    def __init__(
        self,
        max_attempts: int,
        window_s: float,
        max_lockout_s: float,
        clock: Callable[[], float],
        *,
        max_keys: int | None = MAX_KEYS,
    ) -> None:
        self.max_attempts = max_attempts
        self.window_s = window_s
        self.max_lockout_s = max_lockout_s
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Key] = OrderedDict()

    def _state(self, key: str) -> _Key:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
            if self.max_keys is not None and len(self._keys) > self.max_keys:
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


def format_wait(seconds: float) -> str:
    """A lockout's rest for a person: `12 s`, `5 min`."""
    if seconds < 60:
        return f"{max(1, math.ceil(seconds))} s"
    return f"{math.ceil(seconds / 60)} min"
