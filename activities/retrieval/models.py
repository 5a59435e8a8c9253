"""Typed inputs and outputs of the retrieval activities."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "BatchRequest",
    "BatchResult",
    "FileEntry",
    "Passage",
    "RemoveRequest",
    "RetrieveRequest",
    "ScanRequest",
    "ScanResult",
]


class FileEntry(BaseModel):
    source: str  # the file's path relative to the corpus folder, with `/` separators
    sha256: str


class ScanRequest(BaseModel):
    directory: str
    corpus: str


class ScanResult(BaseModel):
    """The folder's indexable files, split by what the index already holds."""

    changed: list[FileEntry] = Field(default_factory=list)  # new, or content differs from the index
    unchanged: int = 0
    removed: list[str] = Field(default_factory=list)  # in the index, no longer in the folder (or skipped)
    skipped: list[str] = Field(default_factory=list)  # over INDEX_MAX_FILE_BYTES: not read, not indexed


class BatchRequest(BaseModel):
    directory: str
    corpus: str
    sources: list[str]


class BatchResult(BaseModel):
    files: int = 0
    chunks: int = 0
    embedded: int = 0  # chunks that got a vector (0 without EMBEDDINGS_BASE_URL)
    missing: list[str] = Field(default_factory=list)  # gone between the scan and this batch
    skipped: list[str] = Field(default_factory=list)  # grew over INDEX_MAX_FILE_BYTES since the scan


class RemoveRequest(BaseModel):
    corpus: str
    sources: list[str]


class RetrieveRequest(BaseModel):
    corpus: str
    question: str
    top_k: int = Field(default=5, ge=1, le=50)


class Passage(BaseModel):
    passage_id: str  # `{source}#{n}`: the file and the chunk's position in it
    source: str
    text: str
    score: float = 0.0  # fused reciprocal-rank score: higher is better
