"""Typed inputs, outputs, update/signal/query payloads of the workflows (the public contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class StepRecord(BaseModel):
    step: str
    kind: str  # "llm", "tool", "delivery", "approval"
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    ok: bool = True
    detail: str = ""


class UsageTotals(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class ResearchInput(BaseModel):
    topic: str = Field(min_length=1, max_length=2000)
    max_subtopics: int = Field(default=4, ge=1, le=20)
    approvers: list[str] = Field(default_factory=list)
    deliver_to: str | None = None
    budget_usd: float | None = Field(default=None, ge=0)
    model: str | None = None


class ResearchResult(BaseModel):
    topic: str
    report: str
    subtopics: list[str]
    failed_subtopics: list[str] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0
    outcome: str = "completed"


class AgentInput(BaseModel):
    goal: str = Field(min_length=1, max_length=20_000)
    tools: list[str] | None = None  # None: every read-only tool plus the side-effect tools
    max_iterations: int = Field(default=10, ge=1, le=1000)
    budget_usd: float | None = Field(default=None, ge=0)
    approvers: list[str] = Field(default_factory=list)
    model: str | None = None


class AgentResult(BaseModel):
    goal: str
    answer: str
    outcome: str  # "completed", "max_iterations", "budget_exhausted", ...
    iterations: int
    steps: list[StepRecord] = Field(default_factory=list)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0


class ApprovalDecision(BaseModel):
    approver: str = Field(min_length=1)
    approved: bool
    comment: str = ""


class PendingApproval(BaseModel):
    action: str
    action_hash: str
    requested_at: datetime
    deadline: datetime


class WorkflowStatus(BaseModel):
    phase: str
    iteration: int = 0
    pending_approval: PendingApproval | None = None
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0
    completed_steps: list[StepRecord] = Field(default_factory=list)


Phase = Literal[
    "planning", "researching", "synthesizing", "awaiting_approval", "delivering", "running", "completed"
]
