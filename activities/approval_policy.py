"""`approval.policy`: what the worker's configuration says about approvals, handed to a run the
first time it needs it (recorded in its history, so a replay sees the same): the operator's approval
rules (`APPROVAL_RULES_FILE`) and the approvers' public keys (`APPROVER_KEYS_FILE`). Never from the
client that starts the run."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.resources import resources
from common.approval_rules import RuleError, load_rules
from common.approval_signing import ApproverKeys, KeyFileError, parse_keys_file
from common.contracts.runs import ApprovalRule
from common.settings import Settings

__all__ = ["APPROVAL_POLICY_ACTIVITIES", "ApprovalPolicyConfig", "approval_policy", "policy_from_settings"]


class ApprovalPolicyConfig(BaseModel):
    rules: list[ApprovalRule] = Field(default_factory=list)
    # The approvers' public keys; None: decisions are not authenticated.
    keys: ApproverKeys | None = None


def policy_from_settings(settings: Settings) -> ApprovalPolicyConfig:
    """The worker's approval policy; raises `ApplicationError` (one line) when a file went bad since
    the worker started (not retryable: it will not mend itself)."""
    try:
        rules = load_rules(settings.approval_rules_file) if settings.approval_rules_file.strip() else []
        keys = None
        if settings.approver_keys_file.strip():
            keys = parse_keys_file(Path(settings.approver_keys_file))
    except (RuleError, KeyFileError) as error:
        raise ApplicationError(
            str(error).splitlines()[0], type="ApprovalPolicyInvalid", non_retryable=True
        ) from None
    return ApprovalPolicyConfig(rules=rules, keys=keys)


@activity.defn(name="approval.policy")
async def approval_policy() -> ApprovalPolicyConfig:
    return resources().get("approval_policy", policy_from_settings)


APPROVAL_POLICY_ACTIVITIES = (approval_policy,)
