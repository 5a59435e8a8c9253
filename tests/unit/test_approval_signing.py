"""Signed approval decisions (common/approval_signing.py): a signature binds every field of the
decision to one key, and key files that cannot be trusted are refused in one line."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.approval_signing import (
    ApproverKeys,
    KeyFileError,
    decision_message,
    load_private_key,
    new_key_pair,
    parse_keys_file,
    public_key_line,
    sign_decision,
    verify_decision,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "workflow_id": "agent-1",
        "action_hash": "a" * 64,
        "approver": "alice",
        "approved": True,
        "budget_usd": None,
        "for_run": False,
        "expires_at": NOW + timedelta(minutes=10),
    }
    return {**fields, **changes}


@pytest.fixture(scope="module")
def alice() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def inbox() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def keys(alice: Ed25519PrivateKey, inbox: Ed25519PrivateKey) -> ApproverKeys:
    return ApproverKeys(
        keys={"alice": public_key_line(alice), "inbox": public_key_line(inbox)},
        signs_for={"inbox": ["alice", "bob"]},
    )


def test_a_signed_decision_verifies(alice: Ed25519PrivateKey, keys: ApproverKeys) -> None:
    signature = sign_decision(alice, **_fields())
    assert verify_decision(keys, signed_by=None, signature=signature, now=NOW, **_fields()) is None
    assert verify_decision(keys, signed_by="alice", signature=signature, now=NOW, **_fields()) is None


@pytest.mark.parametrize(
    "change",
    [
        {"workflow_id": "agent-2"},  # replayed against another run
        {"action_hash": "b" * 64},  # another action
        {"approved": False},
        {"budget_usd": 50.0},
        {"for_run": True},
        {"expires_at": NOW + timedelta(hours=10)},  # an extended expiry
        {"approver": "bob"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_changed_field_fails(
    alice: Ed25519PrivateKey, keys: ApproverKeys, change: dict[str, Any]
) -> None:
    bob = Ed25519PrivateKey.generate()
    keys = keys.model_copy(update={"keys": {**keys.keys, "bob": public_key_line(bob)}})
    signature = sign_decision(alice, **_fields())
    reason = verify_decision(keys, signed_by=None, signature=signature, now=NOW, **_fields(**change))
    assert reason is not None and reason.startswith("the signature does not verify")


def test_a_budget_signs_alike_as_int_and_float(alice: Ed25519PrivateKey, keys: ApproverKeys) -> None:
    signature = sign_decision(alice, **_fields(budget_usd=5))
    assert (
        verify_decision(keys, signed_by=None, signature=signature, now=NOW, **_fields(budget_usd=5.0)) is None
    )


def test_another_key_fails(keys: ApproverKeys) -> None:
    mallory = Ed25519PrivateKey.generate()
    signature = sign_decision(mallory, **_fields())
    reason = verify_decision(keys, signed_by=None, signature=signature, now=NOW, **_fields())
    assert reason is not None and reason.startswith("the signature does not verify")


def test_garbage_and_missing_signatures(keys: ApproverKeys) -> None:
    garbage = verify_decision(keys, signed_by=None, signature="not base64!", now=NOW, **_fields())
    assert garbage is not None and garbage.startswith("the signature does not verify")
    unsigned = verify_decision(keys, signed_by=None, signature=None, now=NOW, **_fields())
    assert unsigned == "unsigned decision: this deployment requires signed approvals (APPROVER_KEYS_FILE)"


def test_an_expired_decision_fails(alice: Ed25519PrivateKey, keys: ApproverKeys) -> None:
    fields = _fields()
    signature = sign_decision(alice, **fields)
    assert (
        verify_decision(keys, signed_by=None, signature=signature, now=NOW + timedelta(minutes=9), **fields)
        is None
    )
    reason = verify_decision(
        keys, signed_by=None, signature=signature, now=NOW + timedelta(minutes=10), **fields
    )
    assert reason == "the signed decision expired at 2026-03-01T12:10:00+00:00"


def test_an_unknown_signer_fails(alice: Ed25519PrivateKey, keys: ApproverKeys) -> None:
    signature = sign_decision(alice, **_fields(approver="carol"))
    reason = verify_decision(keys, signed_by=None, signature=signature, now=NOW, **_fields(approver="carol"))
    assert reason == "no key for signer 'carol'"


def test_a_signer_signs_only_for_its_listed_approvers(inbox: Ed25519PrivateKey, keys: ApproverKeys) -> None:
    for_bob = sign_decision(inbox, **_fields(approver="bob"))
    assert (
        verify_decision(keys, signed_by="inbox", signature=for_bob, now=NOW, **_fields(approver="bob"))
        is None
    )
    for_mallory = sign_decision(inbox, **_fields(approver="mallory"))
    reason = verify_decision(
        keys, signed_by="inbox", signature=for_mallory, now=NOW, **_fields(approver="mallory")
    )
    assert reason == "'inbox' may not sign for 'mallory'"


def test_a_person_cannot_sign_for_another(alice: Ed25519PrivateKey, keys: ApproverKeys) -> None:
    signature = sign_decision(alice, **_fields(approver="bob"))
    reason = verify_decision(keys, signed_by="alice", signature=signature, now=NOW, **_fields(approver="bob"))
    assert reason == "'alice' may not sign for 'bob'"


def test_the_message_is_canonical_and_needs_an_aware_expiry() -> None:
    message = decision_message(
        **_fields(expires_at=datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))))
    )
    prefix, body = message.split(b"\n", 1)
    assert prefix == b"ai-workflows/approval/v1"
    assert json.loads(body)["expires_at"] == "2026-03-01T12:00:00+00:00"
    assert body == json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(ValueError, match="timezone-aware"):
        decision_message(**_fields(expires_at=datetime(2026, 3, 1, 12, 0)))


# --- key files -------------------------------------------------------------------------------------


def test_new_key_pair_writes_a_private_0600_key_and_its_public_line(tmp_path: Path) -> None:
    key_path, pub_path = new_key_pair("alice", tmp_path / "keys")
    assert (key_path.name, pub_path.name) == ("alice.key", "alice.pub")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_text().startswith("ed25519-private:") and len(key_path.read_text().splitlines()) == 1
    private = load_private_key(key_path)
    assert pub_path.read_text().strip() == public_key_line(private)
    keys = ApproverKeys(keys={"alice": pub_path.read_text().strip()})
    signature = sign_decision(private, **_fields())
    assert verify_decision(keys, signed_by=None, signature=signature, now=NOW, **_fields()) is None


def test_new_key_pair_never_overwrites(tmp_path: Path) -> None:
    key_path, _ = new_key_pair("alice", tmp_path)
    before = key_path.read_text()
    with pytest.raises(KeyFileError, match=r"alice\.key: already exists"):
        new_key_pair("alice", tmp_path)
    assert key_path.read_text() == before
    (tmp_path / "bob.pub").write_text("ed25519:x\n")
    with pytest.raises(KeyFileError, match=r"bob\.pub: already exists"):
        new_key_pair("bob", tmp_path)
    assert not (tmp_path / "bob.key").exists()


@pytest.mark.parametrize("name", ["", "../evil", ".hidden", "a/b", "x" * 200])
def test_a_key_name_is_a_plain_file_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(KeyFileError, match="key name"):
        new_key_pair(name, tmp_path)


def _one_line(error: pytest.ExceptionInfo[KeyFileError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("nonsense\n", "not a private key file"),
        ("ed25519-private:@@@\n", "not 32 bytes of base64"),
        ("ed25519-private:AAAA\n", "not 32 bytes of base64"),
        ("ed25519:" + "A" * 44 + "\n", "this is a public key"),
    ],
)
def test_bad_private_key_files_are_one_line(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(KeyFileError) as error:
        load_private_key(path)
    assert expected in _one_line(error) and str(path) in str(error.value)


def test_a_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_path, _ = new_key_pair("alice", tmp_path)
    key_path.chmod(0o644)
    with pytest.raises(KeyFileError) as error:
        load_private_key(key_path)
    assert "open to group or others (mode 0644); run chmod 600" in _one_line(error)
    with pytest.raises(KeyFileError, match="no such key file"):
        load_private_key(tmp_path / "missing.key")


def test_keys_file_with_people_and_a_signer(
    tmp_path: Path, alice: Ed25519PrivateKey, inbox: Ed25519PrivateKey
) -> None:
    path = tmp_path / "approvers.json"
    document = {
        "alice": public_key_line(alice) + "\n",  # the .pub file's content, newline and all
        "inbox": {"key": public_key_line(inbox), "signs_for": ["alice", "bob"]},
    }
    path.write_text(json.dumps(document))
    keys = parse_keys_file(path)
    assert keys.keys == {"alice": public_key_line(alice), "inbox": public_key_line(inbox)}
    assert keys.signs_for == {"inbox": ["alice", "bob"]}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"alice": "ed25519:AAAA"}', "entry 'alice': not an Ed25519 public key line"),
        ('{"alice": 3}', "entry 'alice': expected the .pub line"),
        ('{"inbox": {"key": "ed25519:AAAA", "signs_for": "alice"}}', "signs_for must be a list"),
        ('{"inbox": {"pub": "x"}}', "unknown field(s) pub"),
    ],
)
def test_bad_keys_files_are_one_line(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "approvers.json"
    path.write_text(content)
    with pytest.raises(KeyFileError) as error:
        parse_keys_file(path)
    assert expected in _one_line(error)
    with pytest.raises(KeyFileError, match="no such keys file"):
        parse_keys_file(tmp_path / "missing.json")
