"""The inbox's own key (`INBOX_SIGNING_KEY_FILE`): with it, every decision the inbox sends is signed
for the signed-in reviewer, as the signer `INBOX_SIGNER_NAME` that `APPROVER_KEYS_FILE` lists with
the reviewers it may sign for (`signs_for`). The reviewer proved who they are with their password;
the signature proves the decision came through the inbox that checked it."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.approval_signing import KeyFileError, load_private_key
from common.settings import Settings, SettingsError
from starter.keys import DEFAULT_EXPIRES_IN_S, signed
from workflows.models import ApprovalDecision

__all__ = ["InboxSigner"]


@dataclass(frozen=True)
class InboxSigner:
    name: str
    key: Ed25519PrivateKey
    expires_in_s: float = DEFAULT_EXPIRES_IN_S

    def __repr__(self) -> str:  # never print key material
        return f"InboxSigner({self.name!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> InboxSigner | None:
        """The signer, or None when the inbox signs nothing; a key file it cannot use stops the
        inbox at start in one line."""
        if settings.inbox_signing_key_file is None:
            return None
        try:
            key = load_private_key(settings.inbox_signing_key_file)
        except KeyFileError as error:
            raise SettingsError(f"INBOX_SIGNING_KEY_FILE: {error}") from None
        return cls(settings.inbox_signer_name, key)

    def sign(self, workflow_id: str, decision: ApprovalDecision) -> ApprovalDecision:
        """`decision` (with the action hash the reviewer saw) signed for its approver."""
        return signed(
            decision, self.key, workflow_id=workflow_id, signed_by=self.name, expires_in_s=self.expires_in_s
        )
