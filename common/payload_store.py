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
  message so far.
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
from collections.abc import Iterable, Mapping, Sequence
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
# One encoder for every call: `json.dumps` with options builds a new encoder each time.
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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


class _Splitter:
    def __init__(self, min_object_bytes: int, array_block: int) -> None:
        self.min_object_bytes = min_object_bytes
        self.array_block = array_block
        self.objects: dict[str, bytes] = {}
        self._keys: dict[str, str] = {}  # object keys repeat ("type", "text", ...): dump each once

    def encode(self, node: Any) -> str:
        """`node` as JSON text. A container whose text (its big children already replaced by
        references) is at least `min_object_bytes` becomes an object of its own and a reference."""
        text = str(_dumps(node))
        if len(text) < self.min_object_bytes or not isinstance(node, dict | list):
            return text  # small (or a scalar): inline as it is, without walking it in Python
        composed = self.compose(node)
        if len(composed) < self.min_object_bytes or composed.startswith('{"$blocks"'):
            return composed  # small, or already a short list of references
        return f'{{"{REF_KEY}":"{self._put(composed)}"}}'

    def compose(self, node: dict[str, Any] | list[Any]) -> str:
        if isinstance(node, dict):
            return (
                "{" + ",".join(f"{self._key(key)}:{self.encode(value)}" for key, value in node.items()) + "}"
            )
        parts = [self.encode(item) for item in node]
        if len(parts) <= self.array_block:
            return "[" + ",".join(parts) + "]"
        # Fixed blocks: a transcript only grows at its end, so every full block stays the same object.
        blocks = [
            self._put("[" + ",".join(parts[i : i + self.array_block]) + "]")
            for i in range(0, len(parts), self.array_block)
        ]
        return f'{{"{BLOCKS_KEY}":[' + ",".join(f'"{key}"' for key in blocks) + "]}"

    def _key(self, key: str) -> str:
        text = self._keys.get(key)
        if text is None:
            text = self._keys[key] = _dumps(key)
        return text

    def _put(self, text: str) -> str:
        data = text.encode()
        key = sha256_hex(data)
        self.objects[key] = data
        return key


def split_json(data: bytes, min_object_bytes: int, array_block: int) -> tuple[str, dict[str, bytes]] | None:
    """The root text and the objects of a JSON document, or None when it is not one we can cut
    losslessly (not JSON, or it already uses the reference keys)."""
    try:
        tree = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(tree, dict | list):
        return None
    if uses_reference_keys(data, tree):
        return None
    splitter = _Splitter(min_object_bytes, array_block)
    return splitter.compose(tree), splitter.objects


def uses_reference_keys(data: bytes, tree: Any) -> bool:
    """Whether the document already holds `"$sha256"` / `"$blocks"` (then it is stored whole, so
    joining can never mistake its content for a reference). Without `\\u` escapes in `data`, its
    bytes say it; with them (a key may be spelled with escapes), the normalized text does."""
    if b"\\u" in data:
        normalized = _dumps(tree)
        return f'"{REF_KEY}"' in normalized or f'"{BLOCKS_KEY}"' in normalized
    return f'"{REF_KEY}"'.encode() in data or f'"{BLOCKS_KEY}"'.encode() in data


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
    ) -> None:
        self.object_store = store
        self._name = name
        self._split = split
        self._min_object_bytes = min_object_bytes
        self._array_block = array_block
        self._cache = _ObjectCache(cache_bytes)
        # Objects this process knows are in the store, as (run, object name): see `_run_of`.
        self._present: set[tuple[str, str]] = set()
        # (scope, payload digest) -> root key, for payloads stored before by this process: a replay or
        # a retry encodes the same request again, and cutting a long transcript costs milliseconds.
        self._stored: OrderedDict[tuple[str | None, str], str] = OrderedDict()
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
            key = self._stored.get((scope, digest))
            if key is None or run is None or (run, object_name(scope, key)) not in self._present:
                root, objects = self._cut(payload, serialized)
                key = sha256_hex(root)
                objects[key] = root
                await self._put_all(objects, scope, run)
                self._remember_payload((scope, digest), key)
            self.counters.payloads_stored += 1
            self.counters.payload_bytes_stored += len(serialized)
            claim = {"sha256": key} if workflow_id is None else {"sha256": key, "workflow_id": workflow_id}
            claims.append(StorageDriverClaim(claim_data=claim))
        return claims

    def _remember_payload(self, scoped_digest: tuple[str | None, str], key: str) -> None:
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
            cut = split_json(payload.data, self._min_object_bytes, self._array_block)
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
            if run is not None and (run, name) in self._present:
                continue
            if not await self.object_store.exists(name):
                await self.object_store.put(name, data)
                self.counters.objects_written += 1
                self.counters.object_bytes_written += len(data)
            self._cache.add(key, data)
            if run is not None:
                if len(self._present) > 1_000_000:
                    self._present.clear()  # bounded memory; forgetting only costs an `exists` check
                self._present.add((run, name))

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
