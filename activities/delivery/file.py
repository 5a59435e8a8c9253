"""Report-file delivery: an atomic write to a name derived from the idempotency key.

Readers never see a half-written report: the bytes go to a temporary file in the same directory, are
fsynced, and `os.replace` swaps the finished file in (atomic on POSIX within one file system). Writing
again with the same key lands on the same name, so a retry cannot make a second file.

Reports go only below DELIVERY_FILE_ROOT: a relative `file:` target resolves under it, and the
resolved directory (symlinks followed) must stay inside it, checked in the thread that writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from activities.delivery.failures import destination_refused, rejected, unavailable

__all__ = ["file_name_for", "write_report"]

REPORT_SUFFIX = ".md"
_SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 150


class OutsideRoot(ValueError):
    """The target directory is not below the delivery root."""


def directory_under_root(location: str | Path, root: Path) -> Path:
    """The real directory `location` names, resolved under `root` (symlinks followed); `OutsideRoot`
    when it is not inside the root (`..`, an absolute path elsewhere, a symlink out)."""
    real_root = root.resolve()
    candidate = Path(location)
    resolved = (candidate if candidate.is_absolute() else real_root / candidate).resolve()
    if not resolved.is_relative_to(real_root):
        raise OutsideRoot(f"file target {str(location)!r} is outside DELIVERY_FILE_ROOT ({root})")
    return resolved


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    duplicate: bool  # the file was already there with exactly these bytes
    replaced: bool  # a file with other bytes was there (e.g. after a workflow reset) and was replaced


def file_name_for(idempotency_key: str, suffix: str = REPORT_SUFFIX) -> str:
    """`wf-42/deliver` -> `wf-42__deliver.md`. Keys that need more than `/` -> `__` (other characters,
    a `__` of their own, great length) get a short hash of the key appended, so two keys never share
    a file name."""
    stem = idempotency_key.replace("/", "__")
    plain = "__" not in idempotency_key and _SAFE.match(stem) and len(stem) <= _MAX_STEM
    if not plain:
        cleaned = _UNSAFE_RUN.sub("_", stem).lstrip(".")[:_MAX_STEM] or "report"
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:12]
        stem = f"{cleaned}.{digest}"
    return stem + suffix


async def write_report(
    directory: str | Path, idempotency_key: str, content: str, root: Path | None = None
) -> FileOutcome:
    """Write the report into `directory`, below `root` (None: `directory` itself is the root)."""
    try:
        return await asyncio.to_thread(
            _write_atomically, directory, Path(directory) if root is None else root, idempotency_key, content
        )
    except OutsideRoot as error:
        raise destination_refused(str(error)) from None
    except (PermissionError, NotADirectoryError, IsADirectoryError, FileExistsError) as error:
        # The directory is wrong or not ours: a retry cannot fix it, an operator must.
        raise rejected(f"report file in {directory}: {type(error).__name__}: {error}") from None
    except OSError as error:  # disk full, I/O error: may clear up
        raise unavailable(f"report file in {directory}: {type(error).__name__}: {error}") from None


def _write_atomically(location: str | Path, root: Path, idempotency_key: str, content: str) -> FileOutcome:
    directory = directory_under_root(location, root)
    directory.mkdir(parents=True, exist_ok=True)
    name = file_name_for(idempotency_key)
    target = directory / name
    data = content.encode()
    existing = _read_if_file(target)
    if existing == data:
        return FileOutcome(target.resolve(), duplicate=True, replaced=False)
    _remove_leftovers(directory, name)
    handle, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(directory)  # make the rename itself durable
    return FileOutcome(target.resolve(), duplicate=False, replaced=existing is not None)


def _read_if_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _remove_leftovers(directory: Path, name: str) -> None:
    """Temporary files of an attempt that was killed mid-write. Matched exactly (mkstemp adds eight
    characters), so the temporary file of another key whose name starts alike is left alone."""
    pattern = re.compile(rf"^\.{re.escape(name)}\.[A-Za-z0-9_]{{8}}\.tmp$")
    for leftover in directory.glob(f".{name}.*.tmp"):
        if pattern.match(leftover.name):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
