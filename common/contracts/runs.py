"""The contracts of a kit run, whatever its workflow: step records, usage, status (the `status`
Query), approvals (the `approve` Update and Signal, what a reviewer sees, what was decided), the
options every kit input has, and the state a run carries across continue-as-new.

Every field added after the first release has a default, so running workflows, starters and the
`temporal` CLI keep working with the JSON they already send.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    field_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError
from temporalio.contrib.workflow_streams import WorkflowStreamState
from temporalio.exceptions import ApplicationError

from common.contracts.lean_model import LeanModel
from common.contracts.usage import Usage

__all__ = [
    "DAY_S",
    "FULL_STEP_RECORDS",
    "INVALID_INPUT",
    "MIN_AUTO_APPROVE_TIMEOUT_S",
    "TENANT_PATTERN",
    "ActionField",
    "ApprovalDecision",
    "ApprovalPolicy",
    "ApprovalRecord",
    "ApprovalRule",
    "ApprovalSettings",
    "ArgumentCondition",
    "CarriedSteps",
    "ChildProgress",
    "EscalationNotice",
    "ForkFrom",
    "KitInput",
    "NonBlank",
    "PendingApproval",
    "ProposedAction",
    "RuleDecision",
    "RunCarry",
    "StepRecord",
    "UsageTotals",
    "WorkflowStatus",
    "action_hash",
    "invalid_input",
]

ApprovalPolicy = Literal["reject", "approve"]
DAY_S = 24 * 3600.0
# A tenant's name (`KitInput.tenant`, TENANT_BUDGETS_FILE's keys, the AiTenant search attribute).
TENANT_PATTERN = r"^[A-Za-z0-9._-]{1,100}$"
MIN_AUTO_APPROVE_TIMEOUT_S = 60.0


class StepRecord(LeanModel):
    step: str
    kind: str  # "llm", "tool", "delivery", "approval", "child"
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    ok: bool = True
    detail: str = ""
    # An LLM step's tokens and cost above count every attempt; these say how much of it went to
    # failed attempts, and whether the model had a price (False: cost_usd is 0, not free).
    retried_input_tokens: int = 0
    retried_output_tokens: int = 0
    retried_attempts: int = 0
    priced: bool = True
    # A forked run's step before its fork point: the source run's recorded result, taken again
    # without running anything (no model request, tool call or delivery); it costs the fork nothing.
    reused: bool = False

    @property
    def usage(self) -> Usage:
        """The step's tokens as a `Usage` (the row keeps them flat: the `status` JSON's shape)."""
        return Usage(**self.model_dump(include=set(Usage.model_fields)))


# The name status and results have always used for the one usage shape.
UsageTotals = Usage


class ApprovalDecision(BaseModel):
    """Payload of the `approve` Update and Signal."""

    approver: str = Field(min_length=1)
    approved: bool
    comment: str = ""
    # Optional: the hash of the action the approver looked at (from `status.pending_approval`). When
    # given and the pending action has changed since, the decision is refused.
    action_hash: str | None = None
    # Optional: for a budget top-up request, the new total budget in USD.
    budget_usd: float | None = Field(default=None, gt=0)
    # Signed decisions (APPROVER_KEYS_FILE, common/approval_signing.py): the Ed25519 signature over the
    # workflow id, the action hash, the approver, the decision, the budget, `for_run` and `expires_at`;
    # `signed_by`: the key's name in the keys file (default: the approver; the inbox signs for others).
    signature: str | None = Field(default=None, max_length=200)
    signed_by: str | None = Field(default=None, max_length=200)
    expires_at: datetime | None = None
    # Approve this tool with these same targets for the rest of the run (later matching calls run).
    for_run: bool = False


RuleDecision = Literal["approve", "require", "deny"]


class ArgumentCondition(BaseModel):
    """What one argument must satisfy; every condition given must hold."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    equals: Any = None
    startswith: str | None = None
    endswith: str | None = None
    matches: str | None = None  # a regular expression, matched in full
    in_: list[Any] | None = Field(default=None, alias="in")
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None


class ApprovalRule(BaseModel):
    """`APPROVAL_RULES_FILE` (and a run's `approval_rules`): the first rule whose `tool` glob and
    conditions match a call decides it: "approve" runs it without waiting, "deny" refuses it, "require"
    waits for `approvers` different people."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    tool: str = Field(min_length=1)  # a glob over tool names (`send_*`, `files__*`)
    when: dict[str, ArgumentCondition] = Field(default_factory=dict)
    decision: RuleDecision
    approvers: int = Field(default=1, ge=1, le=10)


class ActionField(BaseModel):
    """One argument of a proposed action, in full: a string as it is, anything else as JSON."""

    name: str
    value: str
    # Where the action goes (`to`, `url`, `deliver_to`, a file path): listed first, never shortened.
    target: bool = False


class ProposedAction(BaseModel):
    """What an approval is asked for, as a reviewer must see it: complete, targets first. Views may
    fold a long value, never drop it; the action hash binds exactly these arguments."""

    kind: str  # "tool", "delivery", "budget_top_up", or a kit workflow's own kind
    name: str  # the tool name or delivery channel
    title: str  # one line: what and where, e.g. "send_email to ana@example.com"
    fields: list[ActionField] = Field(default_factory=list)

    def text(self) -> str:
        """The whole action as plain text (status, CLI, notices): the title, then every field."""
        lines = [self.title]
        for field in self.fields:
            marker = "→ " if field.target else ""
            value = field.value if "\n" not in field.value else "\n    " + field.value.replace("\n", "\n    ")
            lines.append(f"  {marker}{field.name}: {value}")
        return "\n".join(lines)


INVALID_INPUT = "InvalidInput"


def invalid_input(message: str) -> ApplicationError:
    """A run's input can never succeed: fail the run at once with a typed, one-line, non-retryable
    error (never a retry loop)."""
    return ApplicationError(message, type=INVALID_INPUT, non_retryable=True)


def action_hash(kind: str, details: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an action: the same call always has the same hash, and any
    change to it (another URL, another argument) needs a new approval. The gate binds a decision to
    it; an activity that runs the action can check the decision it is given against it."""
    canonical = json.dumps(
        {"kind": kind, "details": details}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class ApprovalRecord(BaseModel):
    """A decision as the workflow recorded it (the `approve` Update's return value)."""

    action: str
    action_hash: str
    approver: str  # a person from `approvers`, "policy" when the deadline decided, or "withdrawn"
    approved: bool
    comment: str = ""
    decided_at: datetime
    # withdrawn: its turn was interrupted; rule: an approval rule decided; for_run: an earlier decision
    via: Literal["update", "signal", "deadline", "withdrawn", "rule", "for_run"]
    budget_usd: float | None = None
    # True when nobody decided by the deadline and the run's approval policy did.
    by_policy: bool = False
    proposed: ProposedAction | None = None
    signed_by: str | None = None  # the key that signed it (signed approvals)
    signature: str | None = None  # its signature: one signed decision decides one request, once
    by_rule: str | None = None  # the rule that decided it without a person (its name or "rule N")
    for_run: bool = False  # this decision also covers later calls of the tool with the same targets


class PendingApproval(BaseModel):
    action: str  # the whole action as text (`ProposedAction.text()`), never cut
    action_hash: str
    requested_at: datetime
    deadline: datetime
    approvers: list[str] = Field(default_factory=list)
    escalated: bool = False
    # The structured action (absent in runs recorded before it existed: `action` has the text).
    proposed: ProposedAction | None = None
    # A rule may need several different people (a two-person rule for payments).
    approvals_needed: int = 1
    approved_by: list[str] = Field(default_factory=list)


class EscalationNotice(BaseModel):
    """Input of the `approval.notify_escalation` activity: nobody decided before the deadline."""

    workflow_id: str
    workflow_type: str = ""
    action: str
    action_hash: str = ""
    approvers: list[str]
    deadline: datetime
    policy: ApprovalPolicy = "reject"


class ApprovalSettings(BaseModel):
    """Approval options both workflows accept (flattened into their inputs)."""

    approvers: list[str] = Field(default_factory=list)
    approval_timeout_s: float = Field(default=DAY_S, gt=0, le=365 * DAY_S)
    # After the escalation notice, how long to keep waiting for a decision before the policy applies.
    approval_grace_s: float = Field(default=0.0, ge=0, le=30 * DAY_S)
    approval_policy: ApprovalPolicy = "reject"

    @model_validator(mode="after")
    def _auto_approve_needs_time(self) -> ApprovalSettings:
        # Auto-approval at a deadline nobody could meet would be no approval at all.
        if self.approval_policy == "approve" and self.approval_timeout_s < MIN_AUTO_APPROVE_TIMEOUT_S:
            raise PydanticCustomError(
                "auto_approve_too_soon",
                "approval_timeout_s must be at least {minimum} s when approval_policy is 'approve'",
                {"minimum": int(MIN_AUTO_APPROVE_TIMEOUT_S)},
            )
        return self


class ForkFrom(BaseModel):
    """Where a forked run starts (`starter fork`): steps before `step` take the source run's results
    as its history recorded them (the worker reads them; a client only names the run)."""

    model_config = ConfigDict(extra="forbid")

    workflow_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)  # the source's first run, or any run of its chain
    step: int = Field(ge=1)  # as `status` numbers steps: 1 is the first of `completed_steps`

    def label(self) -> str:
        """`workflow_id/run_id@step`: the AiForkOf search attribute's value."""
        return f"{self.workflow_id}/{self.run_id}@{self.step}"


class KitInput(ApprovalSettings):
    """The options every kit workflow's input has (approvals, budget, model); extend it."""

    budget_usd: float | None = Field(default=None, ge=0)
    model: str | None = None  # None: the worker's LLM_MODEL / provider default
    # Whose spend this is: TENANT_BUDGETS_FILE's limits hold across all of a tenant's runs.
    tenant: str = Field(default="default", pattern=TENANT_PATTERN)
    # Rules of this run, before the operator's (APPROVAL_RULES_FILE): stricter only ("require" with
    # more approvers, or "deny"); a client cannot grant its run auto-approval.
    approval_rules: list[ApprovalRule] = Field(default_factory=list, max_length=50)
    # A fork of a recorded run (`starter fork`): steps before `fork_from.step` reuse its results.
    fork_from: ForkFrom | None = None
    # An eval run (`starter eval`): side-effect tools and deliveries are simulated, never performed
    # (workflows/kit/eval_mode.py); tools that only read run for real.
    eval_mode: bool = False

    @model_validator(mode="after")
    def _run_rules_only_stricter(self) -> KitInput:
        if any(rule.decision == "approve" for rule in self.approval_rules):
            raise PydanticCustomError(
                "looser_rule",
                "approval_rules in a run's input may only require or deny; auto-approval is the operator's "
                "(APPROVAL_RULES_FILE)",
            )
        return self


def _not_blank(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return text


NonBlank = Annotated[str, AfterValidator(_not_blank)]


class RunCarry(BaseModel):
    """A kit run's whole state, handed to its next run when it continues-as-new."""

    iteration: int = 0
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0
    budget_usd: float | None = None  # the current budget, top-ups included
    steps: list[StepRecord] = Field(default_factory=list)
    # The payload store's digest of the step records (`CarriedSteps`) when they went through the
    # store instead of `steps`: a 1,000-step agent's were most of its 252 KB hand-over, uploaded with
    # the continue-as-new and read back in the next run's first task (docs/benchmarks.md). Left out of
    # the JSON when None, so the seals of states written before it still verify.
    steps_stash: str | None = Field(default=None, exclude_if=lambda digest: digest is None)
    decisions: list[ApprovalRecord] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)  # what the run's answer draws on
    runs: int = 1  # how many runs this workflow has had, this one included
    # The run's Workflow Stream (phases and steps for `starter watch`), for the next run's stream.
    stream_state: WorkflowStreamState | None = None
    # The deployment's HMAC over the rest, this workflow and its run chain (activities/run_state.py):
    # a run accepts carried state only with a seal that verifies, so no client can supply it.
    seal: str | None = None

    @field_serializer("steps", mode="wrap")
    def _steps_without_defaults(
        self, steps: list[StepRecord], handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        """In JSON, the step records leave out their default values: a 1,000-step agent's were 486 KB
        of its next run's input, and that run's first task decodes them (docs/benchmarks.md). The
        seal's digest is over the full records (`FULL_STEP_RECORDS`), as it was before."""
        return _records_without_defaults(steps, handler, info)


# Serialization context of the carried state's seal digest: step records in full.
FULL_STEP_RECORDS = "full_step_records"
_STEP_RECORDS: TypeAdapter[list[StepRecord]] = TypeAdapter(list[StepRecord])


class CarriedSteps(BaseModel):
    """A run's step records on their way to its next run through the payload store
    (`RunCarry.steps_stash`)."""

    steps: list[StepRecord] = Field(default_factory=list)

    @field_serializer("steps", mode="wrap")
    def _steps_without_defaults(
        self, steps: list[StepRecord], handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        """Written as `RunCarry` writes them: without their default values."""
        return _records_without_defaults(steps, handler, info)


def _records_without_defaults(
    steps: list[StepRecord], handler: SerializerFunctionWrapHandler, info: SerializationInfo
) -> Any:
    if not info.mode_is_json() or (info.context or {}).get(FULL_STEP_RECORDS):
        return handler(steps)
    return _STEP_RECORDS.dump_python(steps, mode="json", exclude_defaults=True)


class ChildProgress(BaseModel):
    """Signal `child_progress` from a deep-research child agent: its running totals so far."""

    child_id: str
    usage: UsageTotals
    cost_usd: float
    steps: int


class WorkflowStatus(BaseModel):
    phase: str
    iteration: int = 0
    pending_approval: PendingApproval | None = None
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0
    completed_steps: list[StepRecord] = Field(default_factory=list)
    outcome: str | None = None  # set when the run has ended
    budget_usd: float | None = None
    tenant: str = "default"
    # Why the run stopped short, in one line (e.g. its tenant's budget); None while it goes on.
    stopped_because: str | None = None
    decisions: list[ApprovalRecord] = Field(default_factory=list)
    runs: int = 1  # AgentWorkflow: runs so far across continue-as-new
    turn: int | None = None  # SessionWorkflow: the turn running, or the last one
    # A model call waiting for the shared rate limit (LLM_RATE_LIMITS), e.g. "rate limit
    # openai/gpt-4o until 12:00:03Z (step plan)"; None when no call waits longer than a second.
    waiting_for: str | None = None
    # Whether a decision proves who made it. False: any client that can reach the namespace may send
    # `approve` as any listed approver (the inbox checks a password; the Update itself does not).
    decisions_authenticated: bool = False
    forked_from: ForkFrom | None = None  # a forked run: the run and step it was forked from
