"""The example's input and result: the workflow's public contract (what `starter start`, the
`temporal` CLI and other clients send and read). New fields get defaults, so running workflows and
clients keep working with the JSON they already send."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ticket_triage.tools import EMAIL_PATTERN
from workflows.kit import ApprovalRecord, KitInput, StepRecord, UsageTotals

__all__ = ["CATEGORIES", "Category", "Outcome", "TicketTriageInput", "TicketTriageResult"]

Category = Literal["billing", "bug", "account", "feature_request", "other"]
CATEGORIES: tuple[Category, ...] = ("billing", "bug", "account", "feature_request", "other")
Outcome = Literal["sent", "rejected", "send_failed"]


class TicketTriageInput(KitInput):
    ticket: str = Field(min_length=1, max_length=20_000, pattern=r"\S")
    customer_email: str = Field(pattern=EMAIL_PATTERN, max_length=320)
    # The reply's subject; default "Re: " and the ticket's first line.
    subject: str | None = Field(default=None, min_length=1, max_length=150)
    # The reply goes to a customer: a person approves each one, so a run needs approvers.
    approvers: list[str] = Field(min_length=1)


class TicketTriageResult(BaseModel):
    customer_email: str
    classification: Category
    customer: str  # what `lookup_customer` found (JSON), or why it found nothing
    reply: str
    outcome: Outcome
    sent: str = ""  # what `send_reply` reported, or why it did not send
    approval: ApprovalRecord | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0
