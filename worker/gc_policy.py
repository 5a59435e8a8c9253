"""The worker process's garbage-collector policy, applied once its worker is built.

Why: with CPython's default first threshold (700 new objects) the collector ran a dozen times while
an agent's model call decoded its whole transcript, found nothing to free and promoted it to older
generations, so full passes followed: a 1,000-step agent paid 94 full passes (up to 103 ms each,
stalling whatever ran). A higher first threshold avoids that, but a young pass traverses every young
object, so its pause grows with the threshold. In the bench's process after 200 finished runs, the
young passes that took over 10 ms: at 50,000, 12-59 ms of CPU (median 29; the longest at a continued
run's first task, where the new run decodes its carried state while the old run's objects die) and
one middle pass 0.7 s; at 10,000, 5-16 ms (median 10), and middle passes 35-107 ms. A 1,000-step
agent's slowest task was then 1.07x the raw loop's (medians of three runs a side) against 1.37x at
50,000 (five runs; docs/benchmarks.md, "Performance at parity", ninth pass). A step no longer
decodes the whole transcript (common/message_decode.py keeps what was decoded), so 10,000 still
spans a step's new objects. Reference counting frees everything that is not cyclic at once."""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

YOUNG_THRESHOLD = 10_000  # new objects between two young-generation passes (CPython's default: 700)


def settle_heap() -> None:
    """Raise the young generation's threshold (the older ones keep theirs), and keep everything
    imported and built so far (it lives as long as the process) out of every later pass."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    gc.freeze()
