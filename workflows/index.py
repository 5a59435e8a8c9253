"""IndexWorkflow: a folder of markdown, text and HTML files -> passages in the grounded-answer index.

scan (which files changed since the index last saw them, which were deleted) -> index the changed
files in batches, one activity each -> remove the deleted files. Durable: a crash mid-way resumes at
the batch that was running (finished batches are never repeated; a batch replaces its files' rows in
one transaction, so running it again is harmless). Re-indexing an unchanged folder writes nothing.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from pydantic import BaseModel, Field, ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.kit import (
        BatchRequest,
        BatchResult,
        RemoveRequest,
        ScanRequest,
        ScanResult,
        index_batch,
        remove_files,
        scan_corpus,
    )
    from workflows.kit import TOOL_CALL, KitInput, KitWorkflow, RunContext
    from workflows.models import NonBlank, StepRecord, UsageTotals

__all__ = ["CORPUS_NAME", "INDEX_WRITE", "IndexInput", "IndexResult", "IndexWorkflow"]

CORPUS_NAME = r"^[A-Za-z0-9_.-]{1,100}$"
# A batch reads, chunks, embeds (an HTTP call per file with embeddings) and writes its files: longer
# than a tool call, retried the same way.
INDEX_WRITE = dataclasses.replace(
    TOOL_CALL, start_to_close=timedelta(minutes=5), schedule_to_close=timedelta(minutes=30)
)


class IndexInput(KitInput):
    # A folder on the workers' hosts (the starter sends its absolute path), below their INDEX_ROOTS:
    # any other folder fails the run at once (IndexPathRefused), as does a corpus over
    # INDEX_MAX_CORPUS_BYTES (IndexCorpusTooLarge); the workers' settings decide, not the client.
    directory: NonBlank = Field(min_length=1, max_length=4096)
    corpus: str = Field(default="default", pattern=CORPUS_NAME)
    batch_size: int = Field(default=16, ge=1, le=1000)  # files per indexing activity


class IndexResult(BaseModel):
    corpus: str
    directory: str
    outcome: str = "completed"
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    # Over the worker's INDEX_MAX_FILE_BYTES: never read, not indexed (an earlier version leaves the index).
    skipped: list[str] = Field(default_factory=list)
    passages: int = 0  # passages written
    embedded: int = 0  # passages that got a vector
    batches: int = 0
    steps: list[StepRecord] = Field(default_factory=list)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0


@workflow.defn(name="IndexWorkflow", failure_exception_types=[ValidationError])
class IndexWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: IndexInput) -> None:
        self.ctx = RunContext(params, phase="scanning")

    @workflow.run
    async def run(self, params: IndexInput) -> IndexResult:
        ctx = self.ctx
        ctx.set_phase("scanning")
        scan: ScanResult = await workflow.execute_activity(
            scan_corpus,
            ScanRequest(directory=params.directory, corpus=params.corpus),
            summary=f"scan {params.directory[-80:]}",
            **TOOL_CALL.kwargs(),
        )
        result = IndexResult(
            corpus=params.corpus,
            directory=params.directory,
            files_unchanged=scan.unchanged,
            files_removed=len(scan.removed),
            skipped=list(scan.skipped),
        )
        detail = (
            f"{len(scan.changed)} new or changed, {scan.unchanged} unchanged, {len(scan.removed)} deleted"
        )
        if scan.skipped:
            detail += f", {len(scan.skipped)} over the file size cap skipped"
        ctx.record(StepRecord(step="scan", kind="index", detail=detail))
        sources = [entry.source for entry in scan.changed]
        batches = [sources[i : i + params.batch_size] for i in range(0, len(sources), params.batch_size)]
        if batches:
            ctx.set_phase("indexing")
        for number, batch in enumerate(batches, start=1):
            label = f"index batch {number}/{len(batches)}"
            done: BatchResult = await workflow.execute_activity(
                index_batch,
                BatchRequest(directory=params.directory, corpus=params.corpus, sources=batch),
                summary=label,
                **INDEX_WRITE.kwargs(),
            )
            result.files_indexed += done.files
            result.files_removed += len(done.missing)
            result.skipped += done.skipped
            result.passages += done.chunks
            result.embedded += done.embedded
            result.batches += 1
            ctx.record(
                StepRecord(step=label, kind="index", detail=f"{done.files} files, {done.chunks} passages")
            )
        if scan.removed:
            ctx.set_phase("removing")
            await workflow.execute_activity(
                remove_files,
                RemoveRequest(corpus=params.corpus, sources=scan.removed),
                summary=f"remove {len(scan.removed)} deleted files",
                **TOOL_CALL.kwargs(),
            )
            ctx.record(StepRecord(step="remove", kind="index", detail=", ".join(scan.removed)[:300]))
        await ctx.finish(result.outcome)
        return result.model_copy(update=ctx.totals())
