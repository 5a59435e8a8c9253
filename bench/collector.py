"""The cyclic collector's passes during a stretch of a figure, for its notes.

Why: a middle or full pass frees whatever cyclic garbage is waiting, whoever made it, and its pause
lands on one task of whatever is running then. The 1,000-step agent's row is its slowest task per
run, so such a pass can decide it. When both sides ran in the bench's process, one collector served
both: in one diagnostic, the passes that freed the product's earlier runs (29,017 objects, 137 ms)
landed in raw-loop runs, and the row read 0.36x; in a full run that read 1.73x, 22 of them (the
longest 297 ms) landed in product runs and 3 in raw-loop runs ("Performance at parity", eleventh
pass). Each side's worker now runs in its own process and reports its passes (`to_json`), so the
note says what each side's own collector did.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CollectorPasses", "counting_passes"]

YOUNG = 0


@dataclass
class CollectorPasses:
    """The older-generation passes (middle and full) seen while counting: (ms, objects freed)."""

    passes: list[tuple[float, int]] = field(default_factory=list)
    young: int = 0

    def to_json(self) -> str:
        """One line, for a worker process to report its passes (`bench/worker_process.py`)."""
        return json.dumps({"young": self.young, "passes": self.passes})

    @classmethod
    def from_json(cls, line: str) -> CollectorPasses:
        read = json.loads(line)
        return cls([(float(ms), int(freed)) for ms, freed in read["passes"]], int(read["young"]))

    def summary(self) -> str:
        if not self.passes:
            return f"{self.young} young passes, no middle or full pass"
        longest, freed = max(self.passes)
        return (
            f"{self.young} young passes, {len(self.passes)} middle or full (longest {longest:.0f} ms, "
            f"freeing {freed} objects; {sum(ms for ms, _ in self.passes):.0f} ms in all)"
        )


@contextmanager
def counting_passes(into: CollectorPasses) -> Iterator[CollectorPasses]:
    """Adds the collector's passes while the block runs to `into`."""
    started: list[float] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
            return
        took_ms = (time.perf_counter() - started.pop()) * 1000 if started else 0.0
        if info["generation"] == YOUNG:
            into.young += 1
        else:
            into.passes.append((took_ms, int(info["collected"])))

    gc.callbacks.append(seen)
    try:
        yield into
    finally:
        gc.callbacks.remove(seen)
