"""Payload encryption: an AES-GCM `PayloadCodec` with a key ring, so the Temporal server (and anyone
who can read its database) sees ciphertext instead of prompts, model output and reports.

`PAYLOAD_KEYS` holds the ring as comma-separated `key_id:base64key`, newest last. New payloads are
encrypted with the newest key; payloads written under any key still in the ring decrypt. Rotating is
"append a key, roll the workers and clients"; a key can leave the ring once no open workflow (and no
history you still want to read) uses it.

The wire format is the one of Temporal's encryption samples (Go, TypeScript, Python): metadata
`encoding: binary/encrypted` and `encryption-key-id`, data = 12-byte nonce || AES-GCM(serialized
Payload). A codec server written for those samples decodes ours given the key.

`python -m common.encryption new-key [KEY_ID]` prints a fresh `key_id:base64key` entry.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from common.settings import named_entries

__all__ = [
    "ENCODING",
    "KEY_ID_METADATA",
    "EncryptionCodec",
    "PayloadDecryptionError",
    "main",
    "new_key_entry",
    "parse_key_ring",
]

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_KEY_BYTES = (16, 24, 32)


class PayloadDecryptionError(Exception):
    """An encrypted payload that cannot be decrypted: its key is not in the ring, or it was tampered
    with / written under a different key with the same id. Workers never guess: they stop the task
    with this error, and the workflow task retries once the right key is deployed."""


@dataclass(frozen=True)
class EncryptionKey:
    key_id: str
    aead: AESGCM

    def __repr__(self) -> str:  # never print key material
        return f"EncryptionKey({self.key_id!r})"


def parse_key_ring(setting: str) -> list[EncryptionKey]:
    """`id1:base64,id2:base64` -> keys, oldest first. Raises `ValueError` naming the bad entry by its
    position and id only (the message never contains key material)."""
    keys: list[EncryptionKey] = []
    entries = named_entries(
        setting,
        _KEY_ID,
        expected="expected KEY_ID:BASE64KEY with KEY_ID made of letters, digits, '.', '_', '-'",
        twice="key id {name!r} appears twice",
    )
    for position, key_id, encoded in entries:
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"entry {position} ({key_id!r}): the key is not valid base64") from None
        if len(raw) not in _KEY_BYTES:
            raise ValueError(
                f"entry {position} ({key_id!r}): an AES key has 16, 24 or 32 bytes, this one has {len(raw)}"
            )
        keys.append(EncryptionKey(key_id, AESGCM(raw)))
    if not keys:
        raise ValueError("no key: expected KEY_ID:BASE64KEY[,KEY_ID:BASE64KEY...]")
    return keys


class EncryptionCodec(PayloadCodec):
    """Encrypts with the newest key, decrypts with whichever key the payload names."""

    def __init__(self, keys: Sequence[EncryptionKey]):
        if not keys:
            raise ValueError("EncryptionCodec needs at least one key")
        self._newest = keys[-1]
        self._by_id = {key.key_id: key for key in keys}

    @classmethod
    def from_setting(cls, setting: str) -> EncryptionCodec:
        """The codec for a `PAYLOAD_KEYS` value."""
        return cls(parse_key_ring(setting))

    @property
    def key_ids(self) -> list[str]:
        return list(self._by_id)

    @property
    def newest_key_id(self) -> str:
        return self._newest.key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        # Already encrypted (e.g. a payload the codec server hands back, or one passed through
        # unchanged): encrypting twice would only make it undecodable by other tools.
        if payload.metadata.get("encoding") == ENCODING:
            return payload
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._newest.aead.encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self._newest.key_id.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        # Payloads written before encryption was switched on stay readable.
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        key = self._by_id.get(key_id)
        if key is None:
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r}, which is not in PAYLOAD_KEYS "
                f"(known key ids: {', '.join(self._by_id)}); add that key to the ring"
            )
        try:
            plain = key.aead.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None)
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload under key id {key_id!r} does not authenticate: it was altered, or "
                "PAYLOAD_KEYS holds a different key under that id"
            ) from None
        return Payload.FromString(plain)


def new_key_entry(key_id: str) -> str:
    """A fresh 256-bit key as a `PAYLOAD_KEYS` entry."""
    if not _KEY_ID.match(key_id):
        raise ValueError("KEY_ID: letters, digits, '.', '_', '-' (at most 64)")
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def main(argv: Sequence[str]) -> int:
    if len(argv) in (1, 2) and argv[0] == "new-key":
        print(new_key_entry(argv[1] if len(argv) == 2 else "k1"))
        return 0
    print("usage: python -m common.encryption new-key [KEY_ID]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
