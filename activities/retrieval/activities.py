"""The retrieval activities: scan a corpus folder, index a batch of its files, remove deleted files,
retrieve the passages for a question. Each worker shares one index and one embeddings client
(`resources()`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.resources import resources
from activities.retrieval.dense import Embedder, fuse, nearest
from activities.retrieval.files import FileLimits, TooLarge, list_files, read_source, resolve_folder
from activities.retrieval.models import (
    BatchRequest,
    BatchResult,
    Passage,
    RemoveRequest,
    RetrieveRequest,
    ScanRequest,
    ScanResult,
)
from activities.retrieval.store import IndexedFile, IndexStore, open_index
from activities.retrieval.text import chunk, content_hash, to_text
from common.settings import Settings

__all__ = ["RETRIEVAL_ACTIVITIES", "index_batch", "remove_files", "retrieve", "scan_corpus"]

_CANDIDATES_PER_LIST = 3  # each ranking offers this many times top_k to the fusion


def _index() -> IndexStore:
    def make(settings: Settings) -> IndexStore:
        dsn = settings.index_dsn.get_secret_value() if settings.index_dsn else None
        return open_index(settings.index_path, dsn)

    return resources().get("retrieval.index", make)


def _embedder() -> Embedder | None:
    return resources().get("retrieval.embedder", Embedder.from_settings)


def _folder(directory: str) -> Path:
    # The worker's INDEX_ROOTS decide which folders may be read, whatever the request says.
    return resolve_folder(directory, resources().settings.index_root_paths)


def _limits() -> FileLimits:
    settings = resources().settings
    return FileLimits(settings.index_max_file_bytes, settings.index_max_corpus_bytes)


@activity.defn(name="retrieval.scan")
async def scan_corpus(request: ScanRequest) -> ScanResult:
    """The folder's markdown, text and HTML files against the index: changed, unchanged, removed."""
    folder = _folder(request.directory)
    listing = await asyncio.to_thread(list_files, folder, _limits(), request.directory)
    files = listing.files
    indexed = await _index().hashes(request.corpus)
    # A skipped file is not present: passages of its earlier, smaller version leave the index.
    present = {entry.source for entry in files}
    return ScanResult(
        changed=[entry for entry in files if indexed.get(entry.source) != entry.sha256],
        unchanged=sum(1 for entry in files if indexed.get(entry.source) == entry.sha256),
        removed=sorted(source for source in indexed if source not in present),
        skipped=listing.skipped,
    )


@activity.defn(name="retrieval.index_batch")
async def index_batch(request: BatchRequest) -> BatchResult:
    """Reads, chunks (and embeds) a batch of files and replaces their passages in the index, each file
    with the hash of the content read here. Idempotent: a retry writes the same rows again."""
    folder = _folder(request.directory)
    max_bytes = _limits().max_file_bytes
    result = BatchResult()
    files: list[IndexedFile] = []
    embedder = _embedder()
    for source in request.sources:
        try:
            raw = await asyncio.to_thread(read_source, folder, source, max_bytes)
        except TooLarge:
            result.skipped.append(source)
            continue
        if raw is None:
            result.missing.append(source)
            continue
        passages = chunk(to_text(source, raw))
        vectors = await embedder.embed(passages) if embedder is not None else None
        files.append(IndexedFile(source, content_hash(raw), passages, vectors))
        result.files += 1
        result.chunks += len(passages)
        result.embedded += len(vectors or [])
        activity.heartbeat(source)
    await _index().write(request.corpus, files)
    if result.missing or result.skipped:
        await _index().remove(request.corpus, [*result.missing, *result.skipped])
    return result


@activity.defn(name="retrieval.remove")
async def remove_files(request: RemoveRequest) -> int:
    """Removes deleted files' passages from the index; returns how many files."""
    await _index().remove(request.corpus, request.sources)
    return len(request.sources)


@activity.defn(name="retrieval.retrieve")
async def retrieve(request: RetrieveRequest) -> list[Passage]:
    """The passages for a question, best first: BM25 (or PostgreSQL's ranking), fused with dense
    similarity when embeddings are configured. Empty: nothing in the corpus is relevant."""
    index = _index()
    candidates = request.top_k * _CANDIDATES_PER_LIST
    rankings = [await index.keyword_search(request.corpus, request.question, candidates)]
    embedder = _embedder()
    if embedder is not None:
        [question] = await embedder.embed([request.question])
        ids = nearest(question, await index.vectors(request.corpus), candidates)
        rankings.append(await index.passages(request.corpus, ids))
    return fuse(rankings, request.top_k)


RETRIEVAL_ACTIVITIES: list[Callable[..., Any]] = [scan_corpus, index_batch, remove_files, retrieve]
