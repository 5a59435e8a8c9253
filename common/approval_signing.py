"""Signed approval decisions: an approver's Ed25519 key signs exactly what they decided (the run, the
action's hash, approve or reject, the budget, `for_run`, an expiry), so a decision proves who made it.

Key files, one line each: `NAME.key` holds `ed25519-private:<base64 of the 32-byte raw key>` (mode
0600), `NAME.pub` holds `ed25519:<base64 of the 32-byte raw public key>`. `APPROVER_KEYS_FILE` maps
approver names to `.pub` lines, or to `{"key": ..., "signs_for": [...]}` for a signer (the inbox)
that signs for the reviewers it has signed in. `verify_decision` is pure (no I/O, no clock): it runs
inside workflow code, which passes `workflow.now()`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict, Unpack

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from pydantic import BaseModel, ConfigDict, Field

from common.contracts.runs import ApprovalDecision

__all__ = [
    "ApproverKeys",
    "KeyFileError",
    "SignedFields",
    "decision_fields",
    "decision_message",
    "load_private_key",
    "new_key_pair",
    "parse_keys_file",
    "public_key_line",
    "sign_decision",
    "verify_decision",
]

MESSAGE_PREFIX = b"ai-workflows/approval/v1\n"
PRIVATE_PREFIX = "ed25519-private:"
PUBLIC_PREFIX = "ed25519:"
RAW_KEY_BYTES = 32
# A key's name becomes a file name: no path separators, no leading dot.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
UNSIGNED = "unsigned decision: this deployment requires signed approvals (APPROVER_KEYS_FILE)"
NOT_VERIFIED = "the signature does not verify (another run, another action, or not this approver's key)"


class KeyFileError(ValueError):
    """A key file or keys file that cannot be used; `str(error)` is one line naming the file."""


class ApproverKeys(BaseModel):
    """Who may sign decisions: signer name -> public key line (`ed25519:...`), and for signers that
    sign for others (the inbox) the approvers they may sign for besides themselves."""

    model_config = ConfigDict(frozen=True)

    keys: dict[str, str] = Field(default_factory=dict)
    signs_for: dict[str, list[str]] = Field(default_factory=dict)


# --- key files --------------------------------------------------------------------------------------


def new_key_pair(name: str, out_dir: Path) -> tuple[Path, Path]:
    """Write `out_dir/NAME.key` (private, mode 0600) and `out_dir/NAME.pub`; never overwrite either."""
    if not _NAME.match(name):
        raise KeyFileError(
            f"key name {name!r}: use letters, digits and '._@+-' (up to 128, not starting with a dot)"
        )
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    key_path, pub_path = out_dir / f"{name}.key", out_dir / f"{name}.pub"
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise KeyFileError(f"{out_dir}: cannot create the folder: {error.strerror}") from None
    for path in (key_path, pub_path):
        if path.exists():
            raise KeyFileError(f"{path}: already exists; keys are never overwritten (move it away first)")
    _write_new(key_path, PRIVATE_PREFIX + base64.b64encode(raw).decode(), 0o600)
    try:
        _write_new(pub_path, public_key_line(private), 0o644)
    except KeyFileError:
        key_path.unlink()  # no private key without its public half
        raise
    return key_path, pub_path


def _write_new(path: Path, line: str, mode: int) -> None:
    try:
        # O_EXCL: a file that appeared since the check (or a symlink planted there) is an error.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(
            f"{path}: already exists; keys are never overwritten (move it away first)"
        ) from None
    except OSError as error:
        raise KeyFileError(f"{path}: cannot create: {error.strerror}") from None
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, mode)  # the mode exactly, whatever the umask
        file.write(line + "\n")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The private key in a `.key` file; a missing, malformed or group/other-readable file is a
    one-line `KeyFileError`."""
    text, mode = _read_key_file(path, "key file")
    text = text.strip()
    if text.startswith(PUBLIC_PREFIX):  # the likeliest mix-up: say so before the file's mode
        raise KeyFileError(f"{path}: this is a public key; pass the private .key file")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: open to group or others (mode {stat.S_IMODE(mode):04o}); run chmod 600 on it"
        )
    if not text.startswith(PRIVATE_PREFIX):
        raise KeyFileError(f"{path}: not a private key file (expected one line {PRIVATE_PREFIX}BASE64)")
    raw = _raw_key(text.removeprefix(PRIVATE_PREFIX))
    if raw is None:
        raise KeyFileError(f"{path}: the key is not {RAW_KEY_BYTES} bytes of base64")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_line(private: Ed25519PrivateKey) -> str:
    """`ed25519:<base64>`: the `.pub` file's line, and what `APPROVER_KEYS_FILE` lists."""
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.b64encode(raw).decode()


def parse_keys_file(path: Path) -> ApproverKeys:
    """`APPROVER_KEYS_FILE`: {"alice": "ed25519:...", "inbox": {"key": "ed25519:...", "signs_for":
    ["alice"]}}. Anything else is a one-line `KeyFileError` naming the entry (never key material)."""
    text, _ = _read_key_file(path, "keys file")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise KeyFileError(f"{path}: not JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(document, dict) or not document:
        raise KeyFileError(f"{path}: expected a JSON object from approver name to public key line")
    keys: dict[str, str] = {}
    signs_for: dict[str, list[str]] = {}
    for name, entry in document.items():
        where = f"{path}: entry {name!r}"
        if not name.strip():
            raise KeyFileError(f"{path}: an entry has an empty name")
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"key", "signs_for"})
            if unknown:
                raise KeyFileError(
                    f"{where}: unknown field(s) {', '.join(unknown)} (expected key, signs_for)"
                )
            others = entry.get("signs_for", [])
            if not isinstance(others, list) or not all(isinstance(o, str) and o.strip() for o in others):
                raise KeyFileError(f"{where}: signs_for must be a list of approver names")
            signs_for[name] = list(others)
            entry = entry.get("key")
        if not isinstance(entry, str):
            raise KeyFileError(
                f'{where}: expected the .pub line ("ed25519:...") or {{"key": "ed25519:...", "signs_for": [...]}}'
            )
        line = entry.strip()
        if _public_key(line) is None:
            raise KeyFileError(f"{where}: not an Ed25519 public key line ({PUBLIC_PREFIX}BASE64 of 32 bytes)")
        keys[name] = line
    return ApproverKeys(keys=keys, signs_for=signs_for)


def _read_key_file(path: Path, what: str) -> tuple[str, int]:
    """The text of `path` and its mode; a missing or unreadable file is a one-line `KeyFileError`
    naming `what` it is."""
    try:
        with path.open(encoding="utf-8") as file:
            return file.read(), os.fstat(file.fileno()).st_mode
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(
            f"{path}: cannot read the {what}: {getattr(error, 'strerror', None) or error}"
        ) from None


def _raw_key(encoded: str) -> bytes | None:
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == RAW_KEY_BYTES else None


def _public_key(line: str) -> Ed25519PublicKey | None:
    if not line.startswith(PUBLIC_PREFIX):
        return None
    raw = _raw_key(line.removeprefix(PUBLIC_PREFIX))
    return Ed25519PublicKey.from_public_bytes(raw) if raw is not None else None


# --- signing and verifying --------------------------------------------------------------------------


class _DecisionFields(TypedDict):
    workflow_id: str
    action_hash: str
    approver: str
    approved: bool
    budget_usd: float | None
    for_run: bool


class SignedFields(_DecisionFields):
    """Everything a signature covers, passed whole (`**fields`) to `decision_message`,
    `sign_decision` and `verify_decision`."""

    expires_at: datetime


def decision_fields(
    decision: ApprovalDecision, *, workflow_id: str, action_hash: str, expires_at: datetime
) -> SignedFields:
    """What a signature of `decision` covers, on run `workflow_id` for the action `action_hash`."""
    fields: SignedFields = {
        "workflow_id": workflow_id,
        "action_hash": action_hash,
        "expires_at": expires_at,
        "approver": decision.approver,
        "approved": decision.approved,
        "budget_usd": decision.budget_usd,
        "for_run": decision.for_run,
    }
    return fields


def _exact_keywords(function: str, given: Mapping[str, object], expected: frozenset[str]) -> None:
    """The TypeError Python raises for a wrong keyword argument, for functions taking `**fields`."""
    unknown, missing = sorted(given.keys() - expected), sorted(expected - given.keys())
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}")
    if missing:
        raise TypeError(f"{function}() missing required keyword-only argument(s): {', '.join(missing)}")


def decision_message(**fields: Unpack[SignedFields]) -> bytes:
    """The bytes a signature covers: a version line, then the canonical JSON of the decision."""
    _exact_keywords("decision_message", fields, SignedFields.__required_keys__)
    expires_at, budget_usd = fields["expires_at"], fields["budget_usd"]
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise ValueError("expires_at must be timezone-aware")
    canonical = {
        **fields,
        "approved": bool(fields["approved"]),
        # 5 and 5.0 are one budget: a client's int and the workflow's float must sign alike.
        "budget_usd": float(budget_usd) if budget_usd is not None else None,
        "for_run": bool(fields["for_run"]),
        "expires_at": expires_at.astimezone(UTC).isoformat(),
    }
    return MESSAGE_PREFIX + json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()


def sign_decision(private: Ed25519PrivateKey, **fields: Unpack[SignedFields]) -> str:
    """Base64 of the Ed25519 signature of `decision_message(**fields)`."""
    _exact_keywords("sign_decision", fields, SignedFields.__required_keys__)
    return base64.b64encode(private.sign(decision_message(**fields))).decode()


def verify_decision(
    keys: ApproverKeys,
    *,
    signed_by: str | None,
    signature: str | None,
    now: datetime,
    expires_at: datetime | None,
    **fields: Unpack[_DecisionFields],
) -> str | None:
    """None when the decision is signed by a key allowed to decide for `approver` and has not
    expired at `now`; otherwise the one-line reason."""
    _exact_keywords("verify_decision", fields, _DecisionFields.__required_keys__)
    if not signature:
        return UNSIGNED
    approver = fields["approver"]
    signer = signed_by or approver
    line = keys.keys.get(signer)
    if line is None:
        return f"no key for signer {signer!r}"
    if signer != approver and approver not in keys.signs_for.get(signer, []):
        return f"{signer!r} may not sign for {approver!r}"
    if expires_at is None or expires_at.tzinfo is None:
        return "the signed decision has no timezone-aware expiry (expires_at)"
    public = _public_key(line)
    if public is None:
        return f"the key for signer {signer!r} is not an Ed25519 public key line"
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return NOT_VERIFIED
    message = decision_message(**fields, expires_at=expires_at)
    try:
        public.verify(raw_signature, message)
    except InvalidSignature:
        return NOT_VERIFIED
    if now >= expires_at:
        return f"the signed decision expired at {expires_at.astimezone(UTC).isoformat()}"
    return None
