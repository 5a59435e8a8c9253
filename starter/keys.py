"""Approvers' keys on the client side: `starter keys new NAME --out DIR` makes a pair, and a decision
is signed with a `.key` file before it is sent (`starter approve --key`, the inbox)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.approval_signing import decision_fields, load_private_key, new_key_pair, sign_decision
from workflows.models import ApprovalDecision

__all__ = ["DEFAULT_EXPIRES_IN_S", "NewKeys", "new_keys", "sign", "signed"]

# How long a signed decision stays valid: long enough to reach the run, short enough that a copy of
# it is soon useless.
DEFAULT_EXPIRES_IN_S = 600.0


@dataclass(frozen=True)
class NewKeys:
    name: str
    private_path: Path
    public_path: Path
    public_line: str

    def text(self) -> str:
        """What `keys new` prints: where the pair is, and the entry for `APPROVER_KEYS_FILE`."""
        entry = json.dumps({self.name: self.public_line})[1:-1]
        return "\n".join(
            [
                f"private key: {self.private_path} (mode 0600; only {self.name} should ever read it)",
                f"public key:  {self.public_path}",
                f"add to APPROVER_KEYS_FILE: {entry}",
            ]
        )


def new_keys(name: str, out_dir: Path) -> NewKeys:
    """Write `out_dir/NAME.key` and `out_dir/NAME.pub`; a `KeyFileError` if either exists."""
    private_path, public_path = new_key_pair(name, out_dir)
    return NewKeys(name, private_path, public_path, public_path.read_text(encoding="utf-8").strip())


def signed(
    decision: ApprovalDecision,
    key: Ed25519PrivateKey | Path,
    *,
    workflow_id: str,
    signed_by: str | None = None,
    expires_in_s: float = DEFAULT_EXPIRES_IN_S,
    now: datetime | None = None,
) -> ApprovalDecision:
    """`decision` with its signature: over this run, the action hash it carries, its approver,
    verdict, budget and `for_run`, valid for `expires_in_s` from `now`. `signed_by` names the key in
    the keys file (default: the approver). `key`: the private key, or its `.key` file (a
    `KeyFileError` for a file that cannot be used)."""
    if isinstance(key, Path):
        key = load_private_key(key)
    if not decision.action_hash:
        raise ValueError("a signed decision names the action it decides (action_hash)")
    if not expires_in_s > 0:
        raise ValueError(f"the expiry must be after now, got {expires_in_s} seconds")
    expires_at = (now or datetime.now(UTC)) + timedelta(seconds=expires_in_s)
    fields = decision_fields(
        decision, workflow_id=workflow_id, action_hash=decision.action_hash, expires_at=expires_at
    )
    signature = sign_decision(key, **fields)
    return decision.model_copy(
        update={"signature": signature, "signed_by": signed_by or decision.approver, "expires_at": expires_at}
    )


# `starter approve --key` passes the `.key` file; one function signs with either.
sign = signed
