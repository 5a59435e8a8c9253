"""Seals on the state a run hands to its next run (`run_state.seal`, `run_state.verify`), and the
payload store's copy of a state too big to travel inline (`run_state.stash`, `run_state.unstash`).

A run that continues-as-new passes its state (iterations, spend, decisions, the conversation) in its
next run's input. Temporal cannot tell that input from one a client wrote: every run of a cron
schedule after the first, a reset, a retry or another workflow's continue-as-new counts as
"continued" too. So the state carries an HMAC, made here with a key only workers hold
(`RUN_STATE_KEY`, or the key file `RUN_STATE_KEY_FILE` created on first use), over the workflow type,
the workflow id, the run chain (its first run's id) and the state's digest. A run accepts carried
state only when this seal verifies: a client can neither forge one nor move a real one to another
workflow or to a new run under a reused id.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from activities.resources import resources
from common.contracts.runs import invalid_input
from common.converter import JSON_ENCODING, payload_codec
from common.payload_store import PayloadStoreError, SweepableStore, object_name, workflow_scope
from common.payload_store_config import object_store_from_settings
from common.settings import Settings

if TYPE_CHECKING:
    from common.encryption import EncryptionCodec

__all__ = [
    "FORGED_RUN_STATE",
    "RUN_STATE_ACTIVITIES",
    "RunStateKeys",
    "SealRequest",
    "seal_run_state",
    "stash_state",
    "unstash_state",
    "verify_run_state",
]

FORGED_RUN_STATE = "ForgedRunState"  # not retryable: the same state never verifies later
_KEY_BYTES = 32


class SealRequest(BaseModel):
    """What a seal covers: the run chain (`scope`: type, workflow id, first run id) and the digest
    of the carried state without its seal."""

    scope: str
    digest: str
    seal: str | None = None  # for verify: the seal the state came with


class RunStateKeys:
    """The worker's sealing keys: the first seals, every one verifies (rotation: put the new key
    first, drop the old one once every run continued under the new one)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("no run-state key")
        self.keys = keys

    @classmethod
    def from_settings(cls, settings: Settings) -> RunStateKeys:
        if settings.run_state_key is not None:
            configured = settings.run_state_key.get_secret_value()
            return cls([part.strip().encode() for part in configured.split(",") if part.strip()])
        return cls([_key_file(settings.run_state_key_file)])

    def seal(self, message: bytes) -> str:
        return hmac.new(self.keys[0], message, hashlib.sha256).hexdigest()

    def verifies(self, message: bytes, seal: str) -> bool:
        return any(
            hmac.compare_digest(hmac.new(key, message, hashlib.sha256).hexdigest(), seal) for key in self.keys
        )


def _key_file(path: Path) -> bytes:
    """The key in `path`, made (random, mode 0600) by the first worker that needs one; workers on one
    host share it. Workers on several hosts set `RUN_STATE_KEY` instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(_KEY_BYTES))
    key = path.read_text().strip()
    if len(key) < 2 * _KEY_BYTES:  # a second worker read it while the first was writing
        raise ApplicationError(f"run-state key file {path} is not written yet", type="RunStateKeyNotReady")
    return key.encode()


def _keys() -> RunStateKeys:
    return resources().get("run_state_keys", RunStateKeys.from_settings)


def _message(request: SealRequest) -> bytes:
    return f"ai-workflows/run-state/v1\n{request.scope}\n{request.digest}".encode()


@activity.defn(name="run_state.seal")
async def seal_run_state(request: SealRequest) -> str:
    return _keys().seal(_message(request))


@activity.defn(name="run_state.verify")
async def verify_run_state(request: SealRequest) -> None:
    """Raises `ForgedRunState` (not retryable) unless `request.seal` is this deployment's seal of
    exactly this state in exactly this run chain."""
    if not request.seal or not _keys().verifies(_message(request), request.seal):
        raise ApplicationError(
            "`carried` state was not sealed by this deployment for this run: it is set by the workflow "
            "when it continues-as-new, never by a client (cron, schedule, reset or retry inputs included)",
            type=FORGED_RUN_STATE,
            non_retryable=True,
        )


def _store() -> SweepableStore | None:
    return resources().get("run_state_store", object_store_from_settings)


def _stash_name(digest: str) -> str:
    """Under the workflow's own scope: swept with its runs once Temporal holds none of them."""
    return object_name(workflow_scope(activity.info().workflow_id or ""), f"{digest}.state.json")


@activity.defn(name="run_state.stash")
async def stash_state(state: RawValue) -> str | None:
    """Keeps a run's state (a conversation) in the payload store for its next run, under the SHA-256
    of its JSON as the workflow wrote it (what the seal then covers); None when there is no store
    (`PAYLOAD_STORE=off`): the state then travels inline. The JSON is kept as it came: parsing and
    writing it again would hold the worker's event loop for tens of milliseconds at a long agent's
    continue-as-new (docs/benchmarks.md). With `PAYLOAD_KEYS` it is kept encrypted (the digest is
    then the ciphertext's): the store never holds a conversation in clear."""
    store = _store()
    if store is None:
        return None
    data = _json_of(state.payload)
    codec = _codec()
    if codec is not None:  # with PAYLOAD_KEYS the store holds ciphertext, as for every other payload
        (sealed,) = await codec.encode([Payload(metadata={"encoding": JSON_ENCODING}, data=data)])
        data = sealed.SerializeToString(deterministic=True)
    digest = hashlib.sha256(data).hexdigest()
    await store.put(_stash_name(digest), data)
    return digest


@activity.defn(name="run_state.unstash")
async def unstash_state(digest: str) -> RawValue:
    """The state `stash` kept under `digest`, checked against it, as the JSON it was kept as (the
    workflow reads it into its model). A missing object is retried (a store restored from backup
    brings it back); a changed one is `ForgedRunState`."""
    store = _store()
    if store is None:
        raise ApplicationError(
            "carried state is in the payload store and this worker has none (PAYLOAD_STORE=off)",
            type="PayloadStoreMissing",
        )
    try:
        data = await store.get(_stash_name(digest))
    except PayloadStoreError as error:
        raise ApplicationError(str(error), type="PayloadStoreMissing") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise ApplicationError(
            f"stashed state {digest[:12]}... does not match its digest",
            type=FORGED_RUN_STATE,
            non_retryable=True,
        )
    return RawValue(Payload(metadata={"encoding": JSON_ENCODING}, data=await _opened(data)))


def _codec() -> EncryptionCodec | None:
    return resources().get("run_state_codec", payload_codec)


async def _opened(kept: bytes) -> bytes:
    """The JSON of a kept state: kept as it is without PAYLOAD_KEYS (and by releases before the
    stash was encrypted), else an encrypted `Payload` (protobuf: its first byte is never `{`)."""
    if kept[:1] == b"{":
        return kept
    codec = _codec()
    if codec is None:
        raise ApplicationError(
            "stashed state is encrypted and this worker has no PAYLOAD_KEYS", type="PayloadDecryptionError"
        )
    (payload,) = await codec.decode([Payload.FromString(kept)])
    return _json_of(payload)


def _json_of(payload: Payload) -> bytes:
    """The JSON a workflow handed to `stash`: any other encoding is a caller's mistake, never retried."""
    if payload.metadata.get("encoding") != JSON_ENCODING:
        raise invalid_input("run_state.stash takes a JSON state (a pydantic model or a dict)")
    return payload.data


RUN_STATE_ACTIVITIES = (seal_run_state, verify_run_state, stash_state, unstash_state)
