"""The bench's pause between shapes (bench/settle.py): it frees the shape before's cyclic garbage
and waits while the server is busy, and says so when the server never went quiet."""

from __future__ import annotations

import gc

from bench.settle import QUIET_SHARE, settle


class Cycle:
    def __init__(self) -> None:
        self.me = self


class BusyFor:
    """A server's CPU clock: a full core for `busy` windows, then nothing."""

    def __init__(self, busy: int, window_s: float) -> None:
        self.reads, self.busy, self.window_s, self.used = 0, busy, window_s, 0.0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads % 2 == 0 and self.reads // 2 <= self.busy:  # the end of a busy window
            self.used += self.window_s
        return self.used


async def test_settle_frees_cycles_and_waits_until_the_server_is_quiet() -> None:
    gc.collect()
    gc.disable()  # no automatic pass frees them first
    try:
        for _ in range(1000):
            Cycle()  # garbage only the collector frees
        clock = BusyFor(busy=3, window_s=0.01)
        settled = await settle(clock, window_s=0.01, most_s=5.0)
    finally:
        gc.enable()
    assert settled.collected >= 1000
    assert clock.reads == 8  # three busy windows, then the quiet one
    assert settled.server_share < QUIET_SHARE
    assert "quiet" in settled.note() and "still busy" not in settled.note()


async def test_settle_gives_up_on_a_server_that_stays_busy_and_says_so() -> None:
    settled = await settle(BusyFor(busy=10**6, window_s=0.01), window_s=0.01, most_s=0.05)
    assert settled.server_share >= QUIET_SHARE
    assert "still busy" in settled.note()
