"""The in-flight journal is compacted once it passes its size limit (counted by the writer, not asked
of the kernel per append): the file stays bounded and still names every open attempt."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker import inflight
from worker.inflight import InFlightRecord, WorkerLease, journal_identity, journal_lines, read_journal


def test_the_journal_stays_bounded_and_keeps_the_open_attempts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inflight, "COMPACT_AT_BYTES", 4096)
    lease = WorkerLease.acquire(tmp_path)
    try:
        kept = lease.record(InFlightRecord(b"open-early", "wf-0", "run-0", "llm.complete"))
        for n in range(500):  # about 60 KB of lines: compacted many times over
            lease.forget(lease.record(InFlightRecord(f"t{n}".encode(), f"wf-{n}", "run", "llm.complete")))
        lease.record(InFlightRecord(b"open-late", "wf-x", "run-x", "tool.calculator"))
        size = lease.journal.stat().st_size
        assert size <= 4096 + 200  # the limit and at most one line past it
        assert sorted(r.task_token for r in read_journal(lease.journal)) == [b"open-early", b"open-late"]
        assert (
            journal_identity(journal_lines(lease.journal) or []) == lease.identity
        )  # the header survives compaction
        lease.forget(kept)
    finally:
        lease.release()
