"""Objects a test workflow holds, counted from outside its sandbox (the workflow imports this module
passed through, so both sides see the same set)."""

from __future__ import annotations

import weakref

__all__ = ["LIVE", "Held", "held"]


class Held:
    """One object a workflow keeps in an attribute until its run is evicted."""


LIVE: weakref.WeakSet[Held] = weakref.WeakSet()


def held(count: int) -> list[Held]:
    made = [Held() for _ in range(count)]
    LIVE.update(made)
    return made
