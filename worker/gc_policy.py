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
spans a step's new objects. Reference counting frees everything that is not cyclic at once.

The middle generation is collected after two young passes, not CPython's ten: a middle pass
traverses every object that survived the young passes since the last one, and an agent's step
objects (its transcript, step records) survive until its run ends, so at ten a middle pass took
43-59 ms in a 1,000-step agent (up to 80 ms when it also freed an earlier run's cycles, 137-175 ms in
a shared process), about once a run and inside whichever task was then running. At two, in the same
diagnostic, the passes took 16-38 ms, two or three a run, for about the same collector time in all
(docs/benchmarks.md, "Performance at parity", eleventh pass). The oldest generation keeps CPython's
rule (a full pass once a quarter more objects have reached it), so full passes do not come sooner."""

from __future__ import annotations

import gc

__all__ = ["MIDDLE_THRESHOLD", "YOUNG_THRESHOLD", "settle_heap"]

YOUNG_THRESHOLD = 10_000  # new objects between two young-generation passes (CPython's default: 700)
MIDDLE_THRESHOLD = 2  # young passes between two middle-generation passes (CPython's default: 10)


def settle_heap() -> None:
    """Raise the young generation's threshold, lower the middle one's (the oldest keeps its), and
    keep everything imported and built so far (it lives as long as the process) out of every later
    pass."""
    _, _, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, old)
    gc.freeze()
