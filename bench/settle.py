"""Between two shapes of a run: the garbage of the shape before is collected and the dev server is
left to finish its deferred work, so a shape measures itself and not the one before it.

Why: after the throughput shape (200 agents at once, five times a side), the next collector pass
that reaches the middle generation collects that shape's finished runs (about 260,000 objects,
560-760 ms in one pass), and it lands on one task of whichever side the next shape runs; the dev
server stays above 10% of a core for 4-9 s after that shape's last run closed, and the next
shape's tasks wait on it. Both sides get the same pause; what it found is in the notes."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["QUIET_SHARE", "Settled", "settle"]

QUIET_SHARE = 0.10  # of one core: below this over a window, the dev server counts as quiet
WINDOW_S = 1.0
MOST_S = 120.0


@dataclass(frozen=True)
class Settled:
    collected: int  # objects the full collection freed
    collect_ms: float
    waited_s: float  # until the dev server was quiet (or MOST_S passed)
    server_share: float  # the dev server's CPU over the last window, in cores

    def note(self) -> str:
        quiet = "quiet" if self.server_share < QUIET_SHARE else f"still busy after {MOST_S:.0f} s"
        return (
            f"before this shape: a full collection in this process freed {self.collected} objects "
            f"({self.collect_ms:.0f} ms), and the dev server was {quiet} ({self.server_share:.0%} of a "
            f"core over {WINDOW_S:.0f} s) after {self.waited_s:.1f} s; both sides start from there"
        )


async def settle(
    server_cpu_seconds: Callable[[], float], *, window_s: float = WINDOW_S, most_s: float = MOST_S
) -> Settled:
    """Collects this process's garbage, then waits until the server's CPU over a window is under
    QUIET_SHARE of a core (at most `most_s`)."""
    began = time.perf_counter()
    collected = gc.collect()
    collect_ms = (time.perf_counter() - began) * 1000
    waited_from = time.monotonic()
    share = 1.0
    while time.monotonic() - waited_from < most_s:
        before = server_cpu_seconds()
        await asyncio.sleep(window_s)  # a sampling window of the server's CPU, not a synchronisation
        share = (server_cpu_seconds() - before) / window_s
        if share < QUIET_SHARE:
            break
    return Settled(collected, collect_ms, time.monotonic() - waited_from, share)
