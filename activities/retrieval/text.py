"""Text of a corpus file: HTML to text with the standard library's parser, content hashes, passages
cut with overlap, and the normalisation quotes are checked with."""

from __future__ import annotations

import hashlib
from html.parser import HTMLParser

__all__ = ["CHUNK_OVERLAP_WORDS", "CHUNK_WORDS", "SUFFIXES", "chunk", "content_hash", "normalized", "to_text"]

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text", ".html", ".htm"})
# About 200 words a passage, a fifth of it shared with the next one, so a sentence cut at one
# passage's end is whole in the other.
CHUNK_WORDS = 200
CHUNK_OVERLAP_WORDS = 40
_SKIPPED_TAGS = frozenset({"script", "style", "head", "template", "noscript"})
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "pre"})


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def to_text(name: str, raw: bytes) -> str:
    """The file's readable text: HTML without its markup, anything else as UTF-8."""
    text = raw.decode("utf-8", errors="replace")
    if name.lower().endswith((".html", ".htm")):
        parser = _TextOfHtml()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    return text


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def chunk(text: str, words: int = CHUNK_WORDS, overlap: int = CHUNK_OVERLAP_WORDS) -> list[str]:
    """Passages of `words` words, each starting `words - overlap` words after the last."""
    tokens = text.split()
    if not tokens:
        return []
    step = max(1, words - overlap)
    passages = []
    for start in range(0, len(tokens), step):
        passages.append(" ".join(tokens[start : start + words]))
        if start + words >= len(tokens):
            break
    return passages


def normalized(text: str) -> str:
    """Whitespace collapsed, case folded: how a quote is looked for in its passage."""
    return " ".join(text.split()).casefold()
