"""The long agent's note counts the collector's passes where they ran (bench/collector.py)."""

from __future__ import annotations

import gc

from bench.collector import CollectorPasses, counting_passes


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_counts_older_passes_with_what_they_freed_and_young_ones_apart() -> None:
    gc.collect()
    seen = CollectorPasses()
    with counting_passes(seen):
        for _ in range(100):
            _Node()
        gc.collect(1)
        gc.collect(0)
    assert seen.young == 1
    assert len(seen.passes) == 1
    took_ms, freed = seen.passes[0]
    assert freed >= 100 and took_ms >= 0
    assert "1 young passes, 1 middle or full" in seen.summary()


def test_stops_counting_when_the_block_ends() -> None:
    seen = CollectorPasses()
    with counting_passes(seen):
        pass
    gc.collect()
    assert seen.passes == [] and seen.young == 0
    assert seen.summary() == "0 young passes, no middle or full pass"


def test_a_worker_process_reports_its_passes_in_one_line_read_back_whole() -> None:
    seen = CollectorPasses([(12.5, 300), (3.0, 0)], young=7)
    line = seen.to_json()
    assert "\n" not in line
    assert CollectorPasses.from_json(line) == seen
