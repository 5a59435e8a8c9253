"""TicketTriageWorkflow: classify the ticket (LLM) -> look up the customer (`lookup_customer`) ->
draft a reply (LLM) -> approval: the reviewer sees the recipient first and the whole reply ->
`send_reply`, exactly once -> the reply, the classification, the steps, usage and cost.

Workflow code only orchestrates: every step is an activity the run context schedules; no I/O, clock,
randomness or environment here. A rejected reply is not sent (outcome "rejected").
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ticket_triage.models import CATEGORIES, Category, Outcome, TicketTriageInput, TicketTriageResult
    from ticket_triage.tools import lookup_customer, send_reply
    from workflows.kit import KitWorkflow, LLMRequest, Message, RunContext

__all__ = ["CLASSIFY_SYSTEM", "DRAFT_SYSTEM", "TicketTriageWorkflow", "parse_category", "reply_subject"]

CLASSIFY_SYSTEM = (
    "You triage customer support tickets. Reply with exactly one category: " + ", ".join(CATEGORIES) + "."
)
DRAFT_SYSTEM = (
    "You write the reply a support agent sends to a customer: friendly, concrete, short. Use what is "
    "known about the customer. Reply with the body of the email only."
)


def parse_category(text: str) -> Category:
    """The category the reply names first ("feature request" counts as feature_request), else
    "other": a model's wording never fails the run."""
    lowered = text.lower().replace("feature request", "feature_request")
    found = [(lowered.find(name), name) for name in CATEGORIES if name in lowered]
    return min(found)[1] if found else "other"


def reply_subject(params: TicketTriageInput) -> str:
    first_line = params.ticket.strip().splitlines()[0].strip()
    return params.subject or f"Re: {first_line[:140]}"


@workflow.defn(name="TicketTriageWorkflow", failure_exception_types=[ValidationError])
class TicketTriageWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: TicketTriageInput) -> None:
        self.ctx = RunContext(params, phase="classifying")

    @workflow.run
    async def run(self, params: TicketTriageInput) -> TicketTriageResult:
        ctx = self.ctx
        # The tools this run may call (send_reply needs approvers: the input requires them).
        ctx.offer_tools([lookup_customer.name, send_reply.name])
        ctx.announce_approvers()

        classified = await ctx.llm(
            LLMRequest(
                system=CLASSIFY_SYSTEM,
                messages=[Message.user_text(params.ticket)],
                max_tokens=20,
                step_kind="classify",
                step="classify",
            )
        )
        category = parse_category(classified.text())

        ctx.set_phase("looking_up_customer")
        # Recorded as a step ("tool 1 lookup_customer"); the context numbers it and makes its key.
        found = await ctx.call_tool(lookup_customer.name, {"email": params.customer_email})

        ctx.set_phase("drafting")
        drafted = await ctx.llm(
            LLMRequest(
                system=DRAFT_SYSTEM,
                messages=[
                    Message.user_text(
                        f"Ticket ({category}) from {params.customer_email}:\n{params.ticket}\n\n"
                        f"Customer record: {found.content}"
                    )
                ],
                step_kind="draft_reply",
                step="draft reply",
            )
        )
        reply = drafted.text().strip()

        # The gate shows the whole call (recipient first, then every argument in full) and binds the
        # decision to its hash; the kit gives the approved call its idempotency key.
        arguments = {"to": params.customer_email, "subject": reply_subject(params), "body": reply}
        sent = await ctx.call_tool(send_reply.name, arguments)
        decisions = ctx.status.decisions
        approval = decisions[-1] if decisions else None
        outcome: Outcome = "sent"
        if approval is not None and not approval.approved:
            outcome = "rejected"
        elif sent.is_error:
            outcome = "send_failed"
        await ctx.finish(outcome)
        return TicketTriageResult(
            customer_email=params.customer_email,
            classification=category,
            customer=found.content,
            reply=reply,
            outcome=outcome,
            sent=sent.content,
            approval=approval,
            **ctx.totals(),
        )
