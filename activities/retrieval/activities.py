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
from activities.retrieval.errors import invalid_corpus
from activities.retrieval.models import (
    BatchRequest,
    BatchResult,
    FileEntry,
    Passage,
    RemoveRequest,
    RetrieveRequest,
    ScanRequest,
    ScanResult,
)
from activities.retrieval.store import IndexedFile, IndexStore, open_index
from activities.retrieval.text import SUFFIXES, chunk, content_hash, to_text
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
    folder = Path(directory)
    if not folder.is_dir():
        raise invalid_corpus(f"not a folder on this worker: {directory}")
    return folder.resolve()


def _list_files(folder: Path) -> list[FileEntry]:
    entries = []
    for path in sorted(folder.rglob("*")):
        # Symlinks are skipped: a link out of the folder would index what the folder does not hold.
        if path.suffix.lower() in SUFFIXES and path.is_file() and not path.is_symlink():
            source = path.relative_to(folder).as_posix()
            entries.append(FileEntry(source=source, sha256=content_hash(path.read_bytes())))
    return entries


@activity.defn(name="retrieval.scan")
async def scan_corpus(request: ScanRequest) -> ScanResult:
    """The folder's markdown, text and HTML files against the index: changed, unchanged, removed."""
    folder = _folder(request.directory)
    files = await asyncio.to_thread(_list_files, folder)
    indexed = await _index().hashes(request.corpus)
    present = {entry.source for entry in files}
    return ScanResult(
        changed=[entry for entry in files if indexed.get(entry.source) != entry.sha256],
        unchanged=sum(1 for entry in files if indexed.get(entry.source) == entry.sha256),
        removed=sorted(source for source in indexed if source not in present),
    )


def _read(folder: Path, source: str) -> tuple[str, bytes] | None:
    path = (folder / source).resolve()
    if not path.is_relative_to(folder):
        raise invalid_corpus(f"{source}: outside the corpus folder")
    if not path.is_file():
        return None
    return source, path.read_bytes()


@activity.defn(name="retrieval.index_batch")
async def index_batch(request: BatchRequest) -> BatchResult:
    """Reads, chunks (and embeds) a batch of files and replaces their passages in the index, each file
    with the hash of the content read here. Idempotent: a retry writes the same rows again."""
    folder = _folder(request.directory)
    result = BatchResult()
    files: list[IndexedFile] = []
    embedder = _embedder()
    for source in request.sources:
        read = await asyncio.to_thread(_read, folder, source)
        if read is None:
            result.missing.append(source)
            continue
        raw = read[1]
        passages = chunk(to_text(source, raw))
        vectors = await embedder.embed(passages) if embedder is not None else None
        files.append(IndexedFile(source, content_hash(raw), passages, vectors))
        result.files += 1
        result.chunks += len(passages)
        result.embedded += len(vectors or [])
        activity.heartbeat(source)
    await _index().write(request.corpus, files)
    if result.missing:
        await _index().remove(request.corpus, result.missing)
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
