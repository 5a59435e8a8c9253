"""Inputs and results of the shipped `ResearchWorkflow` and `AgentWorkflow` (their public contract;
new fields get defaults). What every kit run shares lives in `common.contracts.runs`, re-exported."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from common.contracts.delivery import DeliveryReceipt
from common.contracts.llm import Message
from common.contracts.mcp import McpToolInfo
from common.contracts.runs import *  # noqa: F403 - the run contracts, re-exported as before
from common.contracts.runs import ApprovalRecord, KitInput, NonBlank, RunCarry, StepRecord, UsageTotals
from common.contracts.runs import __all__ as _run_contracts

__all__ = [
    *_run_contracts,
    "AgentCarryState",
    "AgentConversation",
    "AgentInput",
    "AgentResult",
    "ResearchDepth",
    "ResearchInput",
    "ResearchResult",
]

ResearchDepth = Literal["quick", "deep"]


class ResearchInput(KitInput):
    topic: NonBlank = Field(min_length=1, max_length=2000)
    # Up to 500: wide fan-outs (one research step per item of a long list) are a supported shape
    # (docs/benchmarks.md measures 100 and 500); `budget_usd` bounds what they spend.
    max_subtopics: int = Field(default=4, ge=1, le=500)
    deliver_to: str | None = None
    depth: ResearchDepth = "quick"
    # How many subtopics are researched at once (the worker setting RESEARCH_MAX_PARALLEL is the
    # starters' default; workflows cannot read settings).
    max_parallel: int = Field(default=8, ge=1, le=500)
    # Deep research: the iteration cap of each child agent.
    deep_max_iterations: int = Field(default=6, ge=1, le=50)


class ResearchResult(BaseModel):
    topic: str
    report: str
    subtopics: list[str]
    failed_subtopics: list[str] = Field(default_factory=list)
    skipped_subtopics: list[str] = Field(default_factory=list)  # not started: budget spent
    sources: list[str] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0
    # "completed", "budget_exhausted", "tenant_budget_exhausted", "rejected", "delivery_failed"
    outcome: str = "completed"
    tenant: str = "default"
    approval: ApprovalRecord | None = None
    delivery: DeliveryReceipt | None = None


class AgentConversation(BaseModel):
    """An agent's transcript, kept in the payload store while the run continues-as-new."""

    messages: list[Message]


class AgentCarryState(RunCarry):
    """What an agent run hands to its next run when it continues-as-new: the conversation too, as
    the digest of its `AgentConversation` in the payload store (`conversation`, covered by the seal),
    or inline (`messages`) when the worker has no store or the run began before stashing."""

    messages: list[Message] = Field(default_factory=list)
    # Left out of the dump when unset: the seal hashes the dump, and a state sealed before this field
    # existed (a run that continued-as-new just before a deploy) must still verify.
    conversation: str | None = Field(default=None, exclude_if=lambda value: value is None)
    # The MCP tools discovery found when the run started: the next run keeps them, not a new list.
    mcp_tools: list[McpToolInfo] | None = None


class AgentInput(KitInput):
    goal: NonBlank = Field(min_length=1, max_length=20_000)
    # None: every read-only tool, plus the side-effect tools when someone can approve them.
    tools: list[str] | None = None
    max_iterations: int = Field(default=10, ge=1, le=1000)
    # When the budget is spent: ask the approvers for a top-up instead of ending the run.
    pause_on_budget: bool = False
    # Continue-as-new after this many iterations in one run (tests, tuning); the history-size
    # thresholds apply regardless.
    continue_as_new_after_iterations: int | None = Field(default=None, ge=1)
    # Set by ResearchWorkflow for its children: signal usage and cost to the parent after each step.
    report_to_parent: bool = False
    # Filled by the workflow itself when it continues-as-new; starters leave it empty.
    carried: AgentCarryState | None = None


class AgentResult(BaseModel):
    goal: str
    answer: str
    outcome: str  # "completed", "max_iterations", "budget_exhausted", "tenant_budget_exhausted"
    iterations: int
    tenant: str = "default"
    steps: list[StepRecord] = Field(default_factory=list)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0
    sources: list[str] = Field(default_factory=list)
    decisions: list[ApprovalRecord] = Field(default_factory=list)
    runs: int = 1
