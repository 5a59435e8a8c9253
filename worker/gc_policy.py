"""The worker process's garbage-collector policy, applied once its worker is built.

Why: an agent's model call decodes the whole transcript into Python objects every step (two
thousand messages are some ten thousand objects), and they live until the call returns. With
CPython's default first threshold (700 new objects) the collector runs a dozen times during each
decode, finds nothing to free, and promotes the transcript to older generations, so full passes
follow: a 1,000-step agent paid 94 full passes (up to 103 ms each, stalling whatever ran) and 2.0 s
of collection in a 55 s run; with a first threshold of 50,000 it paid 23 ms. Reference counting
still frees everything that is not cyclic at once; cyclic garbage (a finished run's workflow
instance, ~700 objects) waits a little longer (docs/benchmarks.md, workflow-task time)."""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

YOUNG_THRESHOLD = 50_000  # new objects between two young-generation passes (CPython's default: 700)


def settle_heap() -> None:
    """Raise the young generation's threshold (the older ones keep theirs), and keep everything
    imported and built so far (it lives as long as the process) out of every later pass."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    gc.freeze()
