"""The `search_docs` tool: keyword search over a local folder of .md/.txt files.

Files are split into passages (paragraphs; a markdown heading stays with the paragraph under it) and
scored by term frequency (saturating, as in BM25) weighted by how rare the term is across passages
(idf), so a passage that mentions "approval" five times ranks above one that mentions "the" often. Small corpora only: the
index is built in memory once per worker.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from activities.resources import resources
from activities.tools.declare import tool
from common.contracts.tools import ToolObservation

__all__ = ["DocsIndex", "SearchDocsInput", "render_hits", "search_docs_tool", "split_passages", "terms_of"]

SUFFIXES = (".md", ".txt")
MAX_FILE_BYTES = 1_000_000
MAX_PASSAGE_CHARS = 1200
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_STOP_WORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it its of on or that the this to was "
    "what when where which who why will with you your".split()
)


class SearchDocsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=500, description="Words to search for")
    limit: int = Field(default=3, ge=1, le=10)


@tool(
    name="search_docs",
    description="Search the local document corpus; returns matching passages with file names.",
)
async def search_docs_tool(params: SearchDocsInput) -> ToolObservation:
    from activities.tools.read_only import ToolActivities  # the worker's index, built on first search

    return await resources().get("tools", ToolActivities.from_settings).search_docs(params)


@dataclass(frozen=True)
class Passage:
    file: str  # path relative to the corpus folder
    text: str
    terms: Counter[str]


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


def terms_of(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in _STOP_WORDS]


def split_passages(text: str) -> list[str]:
    """Paragraphs separated by blank lines; a heading is joined to the paragraph that follows it."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]
    passages: list[str] = []
    heading = ""
    for block in blocks:
        if block.startswith("#") and "\n" not in block:
            heading = f"{heading}\n{block}" if heading else block
            continue
        passages.append(f"{heading}\n{block}" if heading else block)
        heading = ""
    if heading:
        passages.append(heading)
    return passages


class DocsIndex:
    def __init__(self, passages: list[Passage]):
        self.passages = passages
        document_frequency: Counter[str] = Counter()
        for passage in passages:
            document_frequency.update(passage.terms.keys())
        total = len(passages)
        self._idf = {term: math.log(1 + total / count) for term, count in document_frequency.items()}

    @classmethod
    def build(cls, folder: Path) -> DocsIndex:
        """Index every .md/.txt file under `folder` (blocking file I/O: run it off the event loop).
        A symlink that leads out of the folder is skipped, and no file is read past MAX_FILE_BYTES."""
        root = folder.resolve()
        passages: list[Passage] = []
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()):
            if not path.resolve().is_relative_to(root):
                continue
            with path.open("rb") as handle:
                text = handle.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
            name = path.relative_to(folder).as_posix()
            for chunk in split_passages(text):
                passages.append(Passage(file=name, text=chunk, terms=Counter(terms_of(chunk))))
        return cls(passages)

    def search(self, query: str, limit: int) -> list[Hit]:
        wanted = set(terms_of(query))
        hits = []
        for passage in self.passages:
            # Saturating term frequency (as in BM25): ten mentions are worth more than one but less
            # than two different query terms, so passages covering more of the query rank first.
            score = sum(
                _saturate(passage.terms[term]) * self._idf[term] for term in wanted if passage.terms[term]
            )
            if score > 0:
                hits.append(Hit(passage, score))
        hits.sort(key=lambda hit: (-hit.score, hit.passage.file))
        return hits[:limit]


def _saturate(count: int, k: float = 1.2) -> float:
    return count * (k + 1) / (count + k)


def render_hits(query: str, hits: list[Hit]) -> str:
    if not hits:
        return f"no passage matches {query!r}"
    parts = []
    for rank, hit in enumerate(hits, start=1):
        text = hit.passage.text
        if len(text) > MAX_PASSAGE_CHARS:
            text = text[:MAX_PASSAGE_CHARS].rstrip() + " ..."
        parts.append(f"[{rank}] {hit.passage.file} (score {hit.score:.2f})\n{text}")
    return "\n\n".join(parts)
