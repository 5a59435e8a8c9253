"""External payload storage: big payloads leave the workflow history for a content-addressed object
store, and history keeps a ~230-byte reference (Temporal's `ExternalStorage`, docs/benchmarks.md).

Why: an agent sends its whole transcript to the model every step. Inline, the history of an
N-step run holds N copies of a growing transcript (quadratic bytes). With this driver, each payload
above `PAYLOAD_STORE_THRESHOLD_BYTES` is stored once under its SHA-256 and the history holds the
reference, so history grows linearly; the store grows linearly too, because of how payloads are cut:

- A JSON payload (the pydantic converter's `json/plain`) is stored as a Merkle tree of JSON: every
  object or array of at least `min_object_bytes` becomes its own object, named by the SHA-256 of its
  text, and its parent holds `{"$sha256": "..."}` in its place. A message that was in step 9's request
  is the same object in step 10's: written once. Long arrays (a transcript) are cut into blocks of
  `array_block` elements, so appending a message rewrites only the last block, not a list of every
  message so far. The cut reads the payload's own bytes (it does not parse and dump it again) and the
  driver remembers what recent messages and full blocks were cut into (`CutMemory`), so a step's
  cut costs about what is new in its request, not the whole transcript.
- Any other payload (an encrypted one: the codec runs before external storage) is stored whole under
  the hash of its bytes. History stays linear; the store then keeps one copy per distinct payload.

Objects are immutable and named by their hash, so writes are idempotent (several workers may write
the same object), a reader verifies every object it reads, and a process caches what it has seen.
Where objects live is an `ObjectStore`: `LocalObjectStore` (files under a directory, for the dev
server and workers on one machine) or `S3ObjectStore` (any client of the SDK's S3 driver interface;
common/payload_s3.py opens one from the settings).

Retention: every object is written under the id of the workflow whose history holds its reference
(`wf/<scope>/<sha256>`, `scope` from `workflow_scope`), and the claim names that workflow. Content
addressing works within a workflow (its transcript stays linear, continue-as-new runs share the id),
and once Temporal no longer holds any run of a workflow id, its whole scope can go
(`python -m worker.payload_sweep`). So a process remembers that an object is in the store only for
the run it was stored for (`_run_of`): a later run under a swept id writes its objects again.
References written before scoping (`{"sha256"}` alone) still resolve from the flat layout
(`<ab>/<sha256>` locally, `<sha256>` in a bucket).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import urllib.parse
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)

DRIVER_NAME = "ai-workflows.content-addressed"
# Metadata of a stored root payload whose data is JSON with references (removed on retrieval).
MERKLE_METADATA = "ai-workflows-merkle-json"
REF_KEY = "$sha256"
BLOCKS_KEY = "$blocks"
_KEY = re.compile(r"^[0-9a-f]{64}$")
SCOPES = "wf"  # top-level folder of the per-workflow scopes
SCOPE_ID_OBJECT = "workflow-id"  # inside a hashed scope: the workflow id it stands for
_MAX_SCOPE_CHARS = 200  # a file name or key segment stays well below 255 bytes
_HEX = re.compile(r"[0-9a-f]{64}")
_REFERENCE = re.compile(r'\{"\$sha256":"([0-9a-f]{64})"\}|\{"\$blocks":\[((?:"[0-9a-f]{64}",?)*)\]\}')


class PayloadStoreError(Exception):
    """A stored payload cannot be read back. The workflow task fails and retries (it never guesses),
    until the object is back (a restored directory or bucket) or the store setting is fixed."""


def workflow_scope(workflow_id: str) -> str:
    """The folder name of a workflow's objects: its id percent-encoded (no `/`, `.` or `~` left, so
    it is one path segment and never `..`), or `~` and its SHA-256 when that would be too long."""
    quoted = urllib.parse.quote(workflow_id, safe="").replace(".", "%2E").replace("~", "%7E")
    if len(quoted) <= _MAX_SCOPE_CHARS:
        return quoted
    return "~" + sha256_hex(workflow_id.encode())


def scope_workflow_id(scope: str) -> str | None:
    """The workflow id of a readable scope name (None for a hashed one: read its id object)."""
    return None if scope.startswith("~") else urllib.parse.unquote(scope)


def object_name(scope: str | None, key: str) -> str:
    """Where an object lives, relative to the store's root: `wf/<scope>/<key>`, or `<key>` (flat)."""
    return key if scope is None else f"{SCOPES}/{scope}/{key}"


class ObjectStore(Protocol):
    """Immutable objects under names from `object_name`. `put` must leave an existing object unchanged."""

    def describe(self) -> str: ...

    async def exists(self, key: str) -> bool: ...

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes:
        """The object's bytes; raises `PayloadStoreError` when there is none."""
        ...


@dataclass(frozen=True)
class StoredObject:
    name: str  # as in `object_name`
    size: int
    modified: float  # POSIX time of its write


class SweepableStore(ObjectStore, Protocol):
    """An object store the retention sweep (worker/payload_sweep.py) can list and delete from."""

    async def scopes(self) -> list[str]:
        """The scope names under `wf/`."""
        ...

    async def list_objects(self, under: str = "") -> list[StoredObject]:
        """Every object whose name starts with `under` (`""`: the whole store)."""
        ...

    async def delete(self, names: Sequence[str]) -> None: ...

    async def check(self) -> None:
        """Raises `PayloadStoreError` in one line unless this process can write and read the store."""
        ...

    async def aclose(self) -> None:
        """Releases this event loop's connections (one-shot commands; workers keep theirs)."""
        ...


class LocalObjectStore:
    """Files under `root/ab/abcdef...`, written to a temporary name and renamed into place, so a
    reader (another worker process on this machine) sees a whole object or none.

    A written object survives the writer's crash (SIGKILL, OOM): the kernel holds it. `fsync=True`
    also makes it survive a crash of the machine, at ~0.4-2 ms per new object on the critical path of
    every step; production keeps its objects in object storage instead (S3ObjectStore)."""

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = root
        self.fsync = fsync
        self._made_dirs: set[str] = set()

    def describe(self) -> str:
        return f"directory {self.root}"

    def _path(self, name: str) -> Path:
        if _KEY.match(name):
            return self.root / name[:2] / name  # the flat layout
        return self.root / name

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.exists():
            return
        folder = str(path.parent)
        if folder not in self._made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(folder)
        try:
            _write_atomically(path, data, fsync=self.fsync)
        except FileNotFoundError:  # the folder was swept since: make it again
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, data, fsync=self.fsync)

    async def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise PayloadStoreError(f"payload object {key} is missing from {self.describe()}") from None

    async def check(self) -> None:
        """Raises `PayloadStoreError` in one line when the directory cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.root / ".store-check", b"ok", fsync=False)
        except OSError as error:
            raise PayloadStoreError(f"payload store {self.describe()} is not writable: {error}") from None

    async def aclose(self) -> None:
        pass  # no connections

    async def scopes(self) -> list[str]:
        folder = self.root / SCOPES
        return sorted(path.name for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []

    async def list_objects(self, under: str = "") -> list[StoredObject]:
        found = []
        for path in (self.root / under if under else self.root).rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                stat = path.stat()
                name = path.relative_to(self.root).as_posix()
                flat = _KEY.match(path.name) and path.parent.parent == self.root
                found.append(StoredObject(path.name if flat else name, stat.st_size, stat.st_mtime))
        return found

    async def delete(self, names: Sequence[str]) -> None:
        for name in names:
            path = self._path(name)
            path.unlink(missing_ok=True)
            if path.parent != self.root and not any(path.parent.iterdir()):
                try:
                    path.parent.rmdir()  # an empty scope goes too
                except OSError:
                    pass  # a worker wrote into it meanwhile: it stays
                self._made_dirs.discard(str(path.parent))


def _write_atomically(path: Path, data: bytes, *, fsync: bool) -> None:
    """Synchronous on purpose: a small local write is faster than a hop to a thread."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        if fsync:
            file.flush()
            os.fsync(file.fileno())  # the reference reaches Temporal only after this returns
    os.replace(temporary, path)


class S3ObjectStore:
    """Objects in an S3-compatible bucket through any `S3StorageDriverClient` of the SDK (for example
    `temporalio.contrib.aws.s3driver.aioboto3.new_aioboto3_client(s3)`), under `prefix`."""

    def __init__(self, client: Any, bucket: str, prefix: str = "ai-workflows/payloads/") -> None:
        self._client = client  # temporalio.contrib.aws.s3driver.S3StorageDriverClient
        self._bucket = bucket
        self._prefix = prefix

    def describe(self) -> str:
        return f"bucket {self._bucket}/{self._prefix}"

    async def exists(self, key: str) -> bool:
        return bool(await self._client.object_exists(bucket=self._bucket, key=self._prefix + key))

    async def put(self, key: str, data: bytes) -> None:
        await self._client.put_object(bucket=self._bucket, key=self._prefix + key, data=data)

    async def get(self, key: str) -> bytes:
        try:
            return bytes(await self._client.get_object(bucket=self._bucket, key=self._prefix + key))
        except Exception as error:
            raise PayloadStoreError(
                f"payload object {key} unreadable from {self.describe()}: {error}"
            ) from None


__all__ = [
    "DRIVER_NAME",
    "SCOPES",
    "SCOPE_ID_OBJECT",
    "ContentAddressedDriver",
    "CutMemory",
    "LocalObjectStore",
    "ObjectStore",
    "PayloadStoreError",
    "S3ObjectStore",
    "StoreCounters",
    "StoredObject",
    "SweepableStore",
    "join_json",
    "object_name",
    "scope_workflow_id",
    "split_json",
    "stored_for",
    "workflow_scope",
]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- Merkle JSON: cutting a JSON document into content-addressed objects and joining it back --------
#
# The cut walks the document's own bytes with the json module's C scanner (decoded as Latin-1: one
# character per byte, so slices are byte-exact and cheap; JSON's structure is ASCII, so the scanner
# sees the same document), so every value's source text is known without dumping it again. A driver's
# `CutMemory` remembers what recent values and full array blocks were cut into: a growing transcript's
# earlier messages and full blocks are looked up (one comparison of their text), not encoded or hashed
# again, so a step costs about what is new in it. What is new is checked as it is cut: UTF-8 (every
# new object and the root are decoded once) and the reference keys (every string the walk decodes).

# The json module's C scanner (typeshed does not declare these two).
# (value, end) of the JSON value that starts at an index:
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
# (text, end) of the JSON string whose opening quote is just before an index:
_scan_string: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace
_REFERENCE_KEYS = (REF_KEY, BLOCKS_KEY)
_BLOCKS_OPENING = f'{{"{BLOCKS_KEY}"'
_Object = tuple[str, bytes]  # key, data
# A string literal of seven characters, one of them a \u escape: "$sha256" or "$blocks" spelled so.
_ESCAPED_KEY = re.compile(r'"(?=[^"]*\\u)(?:[^"\\]|\\u[0-9a-fA-F]{4}){7}"')


def _skip_space(text: str, at: int) -> int:
    """The first position from `at` on that is not JSON whitespace."""
    space = _SPACE.match(text, at)
    return space.end() if space else at


class _UsesReferenceKeys(ValueError):
    """The document holds a string `"$sha256"` or `"$blocks"`: it is stored whole, so joining can
    never mistake its content for a reference."""


def _check_keys(source: str) -> None:
    """Raises `_UsesReferenceKeys` when a string in `source` (JSON text) is a reference key, however
    it is spelled. Two `memchr`s decide for almost every text."""
    if "$" in source and (f'"{REF_KEY}"' in source or f'"{BLOCKS_KEY}"' in source):
        raise _UsesReferenceKeys
    if "\\" in source and "\\u" in source:
        for match in _ESCAPED_KEY.finditer(source):
            if json.loads(match.group()) in _REFERENCE_KEYS:
                raise _UsesReferenceKeys


@dataclass(frozen=True, slots=True, eq=False)
class _Known:
    """A value (or a full array block) cut before: its source text, what stands for it in its parent's
    text (a block: its `[...]` text), every object beneath it, and a block's own object."""

    source: str
    encoded: str
    objects: tuple[_Object, ...]
    block: _Object | None = None

    def size(self) -> int:
        own = len(self.block[1]) if self.block else 0
        return len(self.source) + len(self.encoded) + own + sum(len(data) for _, data in self.objects)


class CutMemory:
    """What recent cuts made of values and full array blocks, by their source text; least recently
    used dropped first, about `capacity_bytes` in all. A lookup compares a candidate's whole source
    with the document at that position, so a hit is the same text, wherever it came from: its objects
    go to the store again (which writes those missing from the current workflow's scope)."""

    _PROBE = 256  # characters of a value's start that index it

    def __init__(self, min_object_bytes: int, array_block: int, capacity_bytes: int) -> None:
        self.min_object_bytes = min_object_bytes
        self.array_block = array_block
        self._capacity = capacity_bytes
        self._probe = max(1, min(min_object_bytes, self._PROBE))
        self._size = 0
        self._entries: OrderedDict[tuple[bool, str], _Known] = OrderedDict()
        self._by_start: dict[tuple[bool, str], list[_Known]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """About how many bytes the remembered texts and objects take (at most `capacity_bytes`)."""
        return self._size

    def find(self, text: str, at: int, *, block: bool) -> _Known | None:
        """The remembered value (or block) whose source is `text` at `at`, if any."""
        candidates = self._by_start.get((block, text[at : at + self._probe]))
        if candidates:
            for known in candidates:
                if text.startswith(known.source, at):
                    self._entries.move_to_end((block, known.source))
                    return known
        return None

    def add(self, known: _Known, *, block: bool) -> None:
        if len(known.source) < self._probe or (block, known.source) in self._entries:
            return  # too short to index (then cheap to cut), or known
        size = known.size()
        if size > self._capacity // 16:
            return  # one huge value would push out everything else
        self._entries[(block, known.source)] = known
        bucket = self._by_start.setdefault((block, known.source[: self._probe]), [])
        bucket.append(known)
        self._size += size
        if len(bucket) > 64:  # many values with one start: keep lookups short
            self._drop(block, bucket[0])
        while self._size > self._capacity:
            oldest_block, oldest_source = next(iter(self._entries))
            self._drop(oldest_block, self._entries[(oldest_block, oldest_source)])

    def _drop(self, block: bool, known: _Known) -> None:
        del self._entries[(block, known.source)]
        start = (block, known.source[: self._probe])
        bucket = self._by_start[start]
        bucket[:] = [other for other in bucket if other is not known]
        if not bucket:
            del self._by_start[start]
        self._size -= known.size()


class _Cutter:
    """One document's cut. A container whose source is at least `min_object_bytes` long and still is
    once its big children are references becomes an object and `{"$sha256": ...}`; an array of more
    than `array_block` elements becomes `{"$blocks": [...]}` of fixed blocks (a transcript only grows at
    its end, so every full block stays the same object). Arrays are written compact, objects keep
    their source text around what changed."""

    def __init__(self, text: str, min_object_bytes: int, array_block: int, memory: CutMemory | None) -> None:
        self.text = text
        self.min_object_bytes = min_object_bytes
        self.array_block = array_block
        self.memory = memory
        self.objects: list[_Object] = []
        self.hits = 0  # lookups that hit so far: a container holding one is not remembered itself

    def value(self, at: int) -> tuple[str | None, int]:
        """What stands for the value at `at` in its parent's text (None: its source, unchanged), and
        where the value ends."""
        text = self.text
        opening = text[at]
        if opening != "{" and opening != "[":
            scalar, end = _scan(text, at)
            if scalar.__class__ is str and scalar in _REFERENCE_KEYS:
                raise _UsesReferenceKeys
            return None, end
        memory = self.memory
        if memory is not None:
            known = memory.find(text, at, block=False)
            if known is not None:
                self.hits += 1
                self.objects.extend(known.objects)
                return known.encoded, at + len(known.source)
        small_end = self._small_end(at)
        if small_end is not None:
            return None, small_end
        first_object, hits = len(self.objects), self.hits
        composed, end = self.compose(at)
        if len(composed) < self.min_object_bytes or composed.startswith(_BLOCKS_OPENING):
            encoded = composed  # small once its children are references, or a list of references
        else:
            encoded = f'{{"{REF_KEY}":"{self._put(composed)}"}}'
        if memory is not None and self.hits == hits:  # all of it new: a message, not the growing list
            memory.add(_Known(text[at:end], encoded, tuple(self.objects[first_object:])), block=False)
        return encoded, end

    def _small_end(self, at: int) -> int | None:
        """Where the container at `at` ends when it is shorter than an object (scanning no further)."""
        window = self.text[at : at + self.min_object_bytes]
        try:
            end = _scan(window, 0)[1]
        except (StopIteration, ValueError):
            return None  # longer (or not JSON: walking it says so)
        if end >= self.min_object_bytes:
            return None
        _check_keys(window[:end])
        return at + end

    def compose(self, at: int) -> tuple[str, int]:
        """The container at `at` with its big children replaced, and where it ends."""
        return self._object(at) if self.text[at] == "{" else self._array(at)

    def _object(self, at: int) -> tuple[str, int]:
        text = self.text
        pieces: list[str] = []
        copied = at  # the source before this is in `pieces`
        i = _skip_space(text, at + 1)
        if text[i] != "}":
            while True:
                if text[i] != '"':
                    raise ValueError("a key expected")
                key, i = _scan_string(text, i + 1)
                if key in _REFERENCE_KEYS:
                    raise _UsesReferenceKeys
                i = _skip_space(text, i)
                if text[i] != ":":
                    raise ValueError("':' expected")
                i = _skip_space(text, i + 1)
                encoded, end = self.value(i)
                if encoded is not None:
                    pieces += (text[copied:i], encoded)
                    copied = end
                i = _skip_space(text, end)
                if text[i] == "}":
                    break
                if text[i] != ",":
                    raise ValueError("',' or '}' expected")
                i = _skip_space(text, i + 1)
        if not pieces:
            return text[at : i + 1], i + 1
        pieces.append(text[copied : i + 1])
        return "".join(pieces), i + 1

    def _array(self, at: int) -> tuple[str, int]:
        text, size, memory = self.text, self.array_block, self.memory
        blocks: list[tuple[str, _Object | None]] = []  # each block's text, and its object when known
        new_blocks: list[tuple[int, int, int, int, int]] = []  # index, source start and end, objects
        parts: list[str] = []  # the block in progress
        count = start = first_object = 0
        i = _skip_space(text, at + 1)
        while text[i] != "]":
            if not parts and memory is not None:
                known = memory.find(text, i, block=True)
                if known is not None:
                    after = _skip_space(text, i + len(known.source))
                    if text[after : after + 1] in (",", "]"):  # its last element ends there too
                        blocks.append((known.encoded, known.block))
                        self.objects.extend(known.objects)
                        self.hits += 1
                        count += size
                        i = after if text[after] == "]" else _skip_space(text, after + 1)
                        continue
            if not parts:
                start, first_object = i, len(self.objects)
            encoded, end = self.value(i)
            parts.append(text[i:end] if encoded is None else encoded)
            count += 1
            if len(parts) == size:
                new_blocks.append((len(blocks), start, end, first_object, len(self.objects)))
                blocks.append(("[" + ",".join(parts) + "]", None))
                parts = []
            i = _skip_space(text, end)
            if text[i] == ",":
                i = _skip_space(text, i + 1)
                if text[i] == "]":
                    raise ValueError("a value expected")
            elif text[i] != "]":
                raise ValueError("',' or ']' expected")
        if parts:
            blocks.append(("[" + ",".join(parts) + "]", None))
        if count <= size:
            return (blocks[0][0] if blocks else "[]"), i + 1
        owns: list[_Object] = []
        for block, own in blocks:
            if own is None:
                self._put(block)
                own = self.objects[-1]
            else:
                self.objects.append(own)
            owns.append(own)
        if memory is not None:
            for index, source_start, source_end, first, last in new_blocks:
                elements = tuple(self.objects[first:last])
                source = text[source_start:source_end]
                memory.add(_Known(source, blocks[index][0], elements, owns[index]), block=True)
        return f'{{"{BLOCKS_KEY}":[' + ",".join(f'"{key}"' for key, _ in owns) + "]}", i + 1

    def _put(self, text: str) -> str:
        data = text.encode("latin-1")  # the document's own bytes
        data.decode()  # UTF-8, or a UnicodeDecodeError: the document is stored whole
        key = sha256_hex(data)
        self.objects.append((key, data))
        return key


def split_json(
    data: bytes, min_object_bytes: int, array_block: int, memory: CutMemory | None = None
) -> tuple[str, dict[str, bytes]] | None:
    """The root text and the objects of a JSON document, or None when it is not one we can cut
    losslessly (not UTF-8 JSON, or it holds the reference keys). Joined, they give back the
    document's bytes when it is compact (as the converter writes it), else the same value. Sizes are
    in bytes. `memory` (a driver's, made for the same sizes) lets what was cut before be looked up."""
    if memory is not None and (memory.min_object_bytes, memory.array_block) != (
        min_object_bytes,
        array_block,
    ):
        raise ValueError("this cut memory was made for other object and block sizes")
    text = data.decode("latin-1")  # never fails; UTF-8 is checked piece by piece (`_put`, below)
    start = _skip_space(text, 0)
    if text[start : start + 1] not in ("{", "["):
        return None  # a scalar, or not JSON
    cutter = _Cutter(text, min_object_bytes, array_block, memory)
    try:
        root, end = cutter.compose(start)
        if _skip_space(text, end) != len(text):
            return None
        return root.encode("latin-1").decode(), dict(cutter.objects)
    except (ValueError, StopIteration, IndexError, RecursionError):
        return None  # not UTF-8 JSON, it holds the reference keys, or it nests too deep to walk


def referenced_keys(text: str) -> list[str]:
    keys: list[str] = []
    for match in _REFERENCE.finditer(text):
        if match.group(1):
            keys.append(match.group(1))
        else:
            keys.extend(_HEX.findall(match.group(2)))
    return keys


def join_json(text: str, objects: Mapping[str, bytes]) -> str:
    """Replaces every reference in `text` by the (joined) text of its object."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return join_json(objects[match.group(1)].decode(), objects)
        inner = [join_json(objects[key].decode(), objects)[1:-1] for key in _HEX.findall(match.group(2))]
        return "[" + ",".join(part for part in inner if part) + "]"

    return _REFERENCE.sub(replace, text)


# -- the driver -------------------------------------------------------------------------------------


@dataclass
class StoreCounters:
    """What a driver did in this process (the benchmark reads them)."""

    payloads_stored: int = 0
    payload_bytes_stored: int = 0  # sizes of the payloads handed to `store` (a whole-payload store's bytes)
    objects_written: int = 0
    object_bytes_written: int = 0  # new bytes this process put into the object store
    payloads_retrieved: int = 0


class _ObjectCache:
    """Objects by key, least recently used dropped first. Objects never change, so it is never stale."""

    def __init__(self, capacity_bytes: int) -> None:
        self._capacity = capacity_bytes
        self._size = 0
        self._objects: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        data = self._objects.get(key)
        if data is not None:
            self._objects.move_to_end(key)
        return data

    def add(self, key: str, data: bytes) -> None:
        if key in self._objects or len(data) > self._capacity:
            return
        self._objects[key] = data
        self._size += len(data)
        while self._size > self._capacity:
            _, dropped = self._objects.popitem(last=False)
            self._size -= len(dropped)


class ContentAddressedDriver(StorageDriver):
    """A `StorageDriver` whose claims are SHA-256 keys: `{"sha256": "<hex>"}` names the root object,
    a serialized `Payload` (for JSON, the Merkle root; see the module docstring)."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        name: str = DRIVER_NAME,
        split: bool = True,
        min_object_bytes: int = 1024,
        array_block: int = 8,
        cache_bytes: int = 64 * 1024 * 1024,
        cut_memory_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.object_store = store
        self._name = name
        self._split = split
        self._min_object_bytes = min_object_bytes
        self._array_block = array_block
        self._cache = _ObjectCache(cache_bytes)
        # What earlier cuts made of values and blocks: a transcript's old messages are looked up.
        self._cut_memory = CutMemory(min_object_bytes, array_block, cut_memory_bytes)
        # Objects this process knows are in the store, as `_pair(run, object name)`: see `_run_of`.
        self._present: set[str] = set()
        # `_pair(scope, payload digest)` -> root key, for payloads stored before by this process: a
        # replay or a retry encodes the same request again, and cutting a long transcript costs
        # milliseconds.
        self._stored: OrderedDict[str, str] = OrderedDict()
        self.counters = StoreCounters()

    def name(self) -> str:
        return self._name

    def type(self) -> str:
        return "ai-workflows.ContentAddressedDriver"

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        claims: list[StorageDriverClaim] = []
        workflow_id = stored_for(context)
        scope = None if workflow_id is None else workflow_scope(workflow_id)
        run = _run_of(context, scope)
        if scope is not None and scope.startswith("~"):
            await self._put_all({SCOPE_ID_OBJECT: workflow_id.encode()}, scope, run)  # type: ignore[union-attr]
        for payload in payloads:
            serialized = payload.SerializeToString(deterministic=True)
            digest = sha256_hex(serialized)
            scoped_digest = _pair(scope, digest)
            key = self._stored.get(scoped_digest)
            if key is None or run is None or _pair(run, object_name(scope, key)) not in self._present:
                root, objects = self._cut(payload, serialized)
                key = sha256_hex(root)
                objects[key] = root
                await self._put_all(objects, scope, run)
                self._remember_payload(scoped_digest, key)
            self.counters.payloads_stored += 1
            self.counters.payload_bytes_stored += len(serialized)
            claim = {"sha256": key} if workflow_id is None else {"sha256": key, "workflow_id": workflow_id}
            claims.append(StorageDriverClaim(claim_data=claim))
        return claims

    def _remember_payload(self, scoped_digest: str, key: str) -> None:
        self._stored[scoped_digest] = key
        if len(self._stored) > 100_000:
            self._stored.popitem(last=False)

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        payloads = []
        for claim in claims:
            key = claim.claim_data.get("sha256", "")
            if not _KEY.match(key):
                raise PayloadStoreError(f"not a content-addressed claim: {dict(claim.claim_data)}")
            workflow_id = claim.claim_data.get("workflow_id")
            scope = None if workflow_id is None else workflow_scope(workflow_id)  # None: flat (older)
            root = Payload.FromString((await self._get_all([key], scope))[key])
            if root.metadata.get(MERKLE_METADATA):
                text = root.data.decode()
                objects = await self._get_tree(text, scope)
                del root.metadata[MERKLE_METADATA]
                root.data = join_json(text, objects).encode()
            payloads.append(root)
            self.counters.payloads_retrieved += 1
        return payloads

    def _cut(self, payload: Payload, serialized: bytes) -> tuple[bytes, dict[str, bytes]]:
        """The root object's bytes and the other new objects of one payload."""
        if self._split and payload.metadata.get("encoding") == b"json/plain":
            cut = split_json(payload.data, self._min_object_bytes, self._array_block, self._cut_memory)
            if cut is not None:
                text, objects = cut
                root = Payload(metadata=dict(payload.metadata), data=text.encode())
                root.metadata[MERKLE_METADATA] = b"1"
                return root.SerializeToString(deterministic=True), objects
        return serialized, {}

    async def _put_all(self, objects: Mapping[str, bytes], scope: str | None, run: str | None) -> None:
        """Writes the objects the store lacks. Only this run's memory skips the store's own answer."""
        for key, data in objects.items():
            name = object_name(scope, key)
            present = None if run is None else _pair(run, name)
            if present is not None and present in self._present:
                continue
            if not await self.object_store.exists(name):
                await self.object_store.put(name, data)
                self.counters.objects_written += 1
                self.counters.object_bytes_written += len(data)
            self._cache.add(key, data)
            if present is not None:
                if len(self._present) > 1_000_000:
                    self._present.clear()  # bounded memory; forgetting only costs an `exists` check
                self._present.add(present)

    async def _get_tree(self, text: str, scope: str | None) -> dict[str, bytes]:
        """Every object reachable from `text`, level by level (one concurrent batch per level)."""
        objects: dict[str, bytes] = {}
        pending = referenced_keys(text)
        while pending:
            fetched = await self._get_all((key for key in pending if key not in objects), scope)
            objects.update(fetched)
            pending = [key for data in fetched.values() for key in referenced_keys(data.decode())]
        return objects

    async def _get_all(self, keys: Iterable[str], scope: str | None) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        missing: list[str] = []
        for key in dict.fromkeys(keys):
            cached = self._cache.get(key)
            if cached is None:
                missing.append(key)
            else:
                found[key] = cached
        names = [object_name(scope, key) for key in missing]
        for key, name, data in zip(
            missing, names, await asyncio.gather(*map(self.object_store.get, names)), strict=True
        ):
            if sha256_hex(data) != key:
                raise PayloadStoreError(
                    f"payload object {name} in {self.object_store.describe()} does not match its hash"
                )
            self._cache.add(key, data)  # by content: the same bytes whichever scope they were read from
            found[key] = data
        return found


_FLAT = ""  # the memory's run for the flat layout, which the sweep never deletes from


def _pair(first: str | None, second: str) -> str:
    """Two names as one key. A string, not a tuple: the collector tracks tuples (for a while) and
    counts each toward its next pass, and these sets hold a few per agent step."""
    return f"\x01{second}" if first is None else f"{first}\x00{second}"


def _run_of(context: StorageDriverStoreContext, scope: str | None) -> str | None:
    """For how long this process may remember that an object of `scope` is in the store: the run it
    was stored for (None: not at all, check the store).

    The sweep deletes a workflow's objects once Temporal holds no run of its id. While a run can
    still store payloads, Temporal holds it, so its memory stays true; a later run under the same id
    (after its history was deleted and swept) starts with none and writes again what the store lacks.
    A memory keyed by object name alone outlived the sweep: that run skipped its writes and its
    history referenced deleted objects (issue 29)."""
    if scope is None:
        return _FLAT
    target = context.target
    if isinstance(target, StorageDriverWorkflowInfo) and target.run_id:
        return target.run_id
    return None  # a client starting or signalling a workflow: the run id is not known yet


def stored_for(context: StorageDriverStoreContext) -> str | None:
    """The workflow whose history will hold the reference: the target workflow (an activity's input
    and result are stored for the workflow that scheduled it). None (the flat, unswept layout) for a
    standalone activity or a call without a target."""
    target = context.target
    if isinstance(target, StorageDriverWorkflowInfo) and target.id:
        return target.id
    return None
