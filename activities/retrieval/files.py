"""A corpus folder as a worker may read it. The worker's settings decide, never the request: a folder
is read only if its real path (symlinks and `..` resolved) is below one of INDEX_ROOTS; no symlink
inside it is followed; a file's size is checked before it is read and a read stops at the cap plus one
byte (a file over INDEX_MAX_FILE_BYTES is skipped and never enters memory whole); indexable files
adding up to more than INDEX_MAX_CORPUS_BYTES fail the run."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from activities.retrieval.errors import corpus_too_large, index_path_refused, invalid_corpus
from activities.retrieval.models import FileEntry
from activities.retrieval.text import SUFFIXES, content_hash

__all__ = [
    "FileLimits",
    "Listing",
    "TooLarge",
    "list_files",
    "read_at_most",
    "read_file",
    "read_source",
    "resolve_folder",
]

_STEP = 64 * 1024  # bytes per read: a capped file is read in steps, never in one call
# O_NOFOLLOW: a file swapped for a symlink after the listing is not followed (open fails with ELOOP).
# O_NONBLOCK: opening a FIFO planted in the folder does not hang the activity (it is then refused).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True)
class FileLimits:
    max_file_bytes: int
    max_corpus_bytes: int


@dataclass
class Listing:
    files: list[FileEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # over the file cap: not read, not indexed


class TooLarge(Exception):
    """The file holds more than the cap (checked before reading, or found while reading)."""


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes | None: ...


def _shown(text: str) -> str:
    return text if text.isprintable() else repr(text)  # one line whatever the request held


def resolve_folder(directory: str, roots: Sequence[Path]) -> Path:
    """The real folder `directory` names, if it is one of `roots` or below one (each root's real path
    too); else IndexPathRefused, before anything about the folder (even whether it exists) is told."""
    try:
        folder = Path(directory).resolve()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a symlink loop
        raise invalid_corpus(f"not a folder on this worker: {_shown(directory)}") from None
    if not any(folder.is_relative_to(root) for root in _real(roots)):
        raise index_path_refused(
            f"{_shown(directory)}: not below INDEX_ROOTS (the worker's setting decides which folders may be indexed)"
        )
    if not folder.is_dir():
        raise invalid_corpus(f"not a folder on this worker: {_shown(directory)}")
    return folder


def _real(roots: Sequence[Path]) -> Iterator[Path]:
    for root in roots:
        try:
            yield root.resolve()
        except (OSError, ValueError, RuntimeError):
            continue  # a root that cannot be resolved admits nothing


def _candidates(folder: Path) -> list[Path]:
    """Regular files with an indexable suffix, sorted; symlinks (to files or folders) are not followed."""
    found = []
    for parent, _dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            path = Path(parent, name)
            if path.suffix.lower() in SUFFIXES and _is_regular(path):
                found.append(path)
    return sorted(found)


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def list_files(folder: Path, limits: FileLimits, label: str) -> Listing:
    """The folder's indexable files with their content hashes, and those skipped as over the file cap.
    Over the corpus cap: IndexCorpusTooLarge, naming `label` (the folder as the request gave it)."""
    listing = Listing()
    total = 0
    for path in _candidates(folder):
        source = path.relative_to(folder).as_posix()
        try:
            raw = read_file(path, limits.max_file_bytes)
        except TooLarge:
            listing.skipped.append(source)
            continue
        if raw is None:
            continue
        total += len(raw)
        if total > limits.max_corpus_bytes:
            raise corpus_too_large(
                f"{_shown(label)}: more than INDEX_MAX_CORPUS_BYTES ({limits.max_corpus_bytes} bytes) "
                "of indexable files; nothing was indexed"
            )
        listing.files.append(FileEntry(source=source, sha256=content_hash(raw)))
    return listing


def read_source(folder: Path, source: str, max_bytes: int) -> bytes | None:
    """A listed file of the folder (None: gone, or no longer a regular file); one that now resolves
    outside the folder (a symlink planted since the listing) is refused."""
    path = (folder / source).resolve()
    if not path.is_relative_to(folder):
        raise index_path_refused(f"{_shown(source)}: outside the corpus folder")
    return read_file(path, max_bytes)


def read_file(path: Path, max_bytes: int) -> bytes | None:
    """The file's bytes, or None if it is not a regular file (a symlink, a FIFO) or is gone. Its size
    is checked before reading (over `max_bytes`: TooLarge), and the read stops after `max_bytes + 1`
    bytes, so a file that grows meanwhile is TooLarge too, never read whole."""
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            return None
        raise
    with os.fdopen(descriptor, "rb", buffering=0) as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > max_bytes:
            raise TooLarge(path.name)
        raw = read_at_most(stream, max_bytes + 1)
    if len(raw) > max_bytes:
        raise TooLarge(path.name)
    return raw


def read_at_most(stream: _Readable, limit: int) -> bytes:
    """Up to `limit` bytes of `stream`, read in steps: never more, however much the stream holds."""
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0:
        part = stream.read(min(_STEP, remaining))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)
