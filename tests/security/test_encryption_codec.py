"""The AES-GCM key-ring codec and the converter built on it, without a server."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from common.converter import build_data_converter, encrypted_data_converter
from common.encryption import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    PayloadDecryptionError,
    new_key_entry,
    parse_key_ring,
)
from common.settings import Settings, SettingsError, try_load_settings

CANARY = "canary-7f3a9c"
K1, K2, K3 = new_key_entry("k1"), new_key_entry("k2"), new_key_entry("k3")


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_encrypts_with_the_newest_key_and_round_trips() -> None:
    codec = EncryptionCodec.from_setting(f"{K1},{K2}")
    [sealed] = await codec.encode([plain(CANARY)])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"k2"
    assert CANARY.encode() not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert opened == plain(CANARY)


async def test_same_plaintext_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec.from_setting(K1)
    first, second = await codec.encode([plain(CANARY), plain(CANARY)])
    assert first.data != second.data  # a fresh nonce per payload


async def test_payloads_under_an_older_key_decrypt_after_rotation() -> None:
    [old] = await EncryptionCodec.from_setting(K1).encode([plain(CANARY)])
    rotated = EncryptionCodec.from_setting(f"{K1},{K2}")
    assert (await rotated.decode([old]))[0] == plain(CANARY)
    assert rotated.newest_key_id == "k2"


async def test_unknown_key_id_is_a_clear_error_without_key_material() -> None:
    [sealed] = await EncryptionCodec.from_setting(K3).encode([plain(CANARY)])
    ring = f"{K1},{K2}"
    with pytest.raises(PayloadDecryptionError) as caught:
        await EncryptionCodec.from_setting(ring).decode([sealed])
    message = str(caught.value)
    assert "'k3'" in message and "k1, k2" in message
    for entry in (K1, K2, K3):
        assert entry.split(":", 1)[1] not in message


async def test_a_different_key_under_the_same_id_fails_authentication() -> None:
    [sealed] = await EncryptionCodec.from_setting(K1).encode([plain(CANARY)])
    impostor = new_key_entry("k1")
    with pytest.raises(PayloadDecryptionError, match="does not authenticate"):
        await EncryptionCodec.from_setting(impostor).decode([sealed])


async def test_tampered_ciphertext_is_rejected() -> None:
    codec = EncryptionCodec.from_setting(K1)
    [sealed] = await codec.encode([plain(CANARY)])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 0x01
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    with pytest.raises(PayloadDecryptionError):
        await codec.decode([tampered])


async def test_encrypted_payloads_are_not_encrypted_again() -> None:
    codec = EncryptionCodec.from_setting(f"{K1},{K2}")
    [once] = await EncryptionCodec.from_setting(K1).encode([plain(CANARY)])
    [again] = await codec.encode([once])
    assert again == once
    assert (await codec.decode([again]))[0] == plain(CANARY)


async def test_unencrypted_payloads_pass_through_decode() -> None:
    codec = EncryptionCodec.from_setting(K1)
    assert (await codec.decode([plain(CANARY)]))[0] == plain(CANARY)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("k1", "KEY_ID:BASE64KEY"),
        ("bad id:" + base64.b64encode(bytes(32)).decode(), "KEY_ID:BASE64KEY"),
        ("k1:not-base64!!", "not valid base64"),
        ("k1:" + base64.b64encode(bytes(10)).decode(), "16, 24 or 32 bytes"),
        (f"{K1},{K1}", "appears twice"),
        (" , ", "no key"),
    ],
)
def test_bad_key_rings_are_rejected_with_a_reason(setting: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_key_ring(setting)


def test_a_bad_payload_keys_setting_names_the_variable_and_hides_the_key() -> None:
    short_key = base64.b64encode(b"0123456789").decode()
    with pytest.raises(SettingsError) as caught:
        try_load_settings(payload_keys=f"k1:{short_key}", llm_provider="offline", _env_file=None)
    assert str(caught.value).startswith("PAYLOAD_KEYS:")
    assert short_key not in str(caught.value)


def test_encryption_switches_on_with_a_key(settings: Settings) -> None:
    assert build_data_converter(settings).payload_codec is None
    keyed = try_load_settings(payload_keys=K1, llm_provider="offline", _env_file=None)
    assert isinstance(build_data_converter(keyed).payload_codec, EncryptionCodec)


async def test_failure_messages_and_stack_traces_are_encrypted() -> None:
    converter = encrypted_data_converter(K1)
    failure = Failure()
    try:
        raise ApplicationError(f"model refused: {CANARY}", non_retryable=True)
    except ApplicationError as error:
        await converter.encode_failure(error, failure)
    raw = failure.SerializeToString()
    assert CANARY.encode() not in raw
    assert failure.message == "Encoded failure"
    decoded = await converter.decode_failure(failure)
    assert CANARY in str(decoded)


def test_new_key_cli_prints_a_usable_entry(capsys: pytest.CaptureFixture[str]) -> None:
    from common.encryption import main

    assert main(["new-key", "2026-01"]) == 0
    entry = capsys.readouterr().out.strip()
    assert entry.startswith("2026-01:")
    assert parse_key_ring(entry)[0].key_id == "2026-01"
