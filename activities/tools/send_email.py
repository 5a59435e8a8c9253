"""The `send_email` tool: send an email over SMTP, once, after a person approved that exact call.

The dedupe ledger keeps the call's idempotency key, so a retried send is not sent again. A server that
refuses the message (SMTP 5xx) is an error observation the model can read; transient failures raise,
and Temporal retries with the same key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from activities.delivery.failures import DELIVERY_REJECTED, refusal_told_to_the_model
from activities.delivery.targets import email_address
from activities.tools.approved_delivery import approved_delivery
from activities.tools.declare import ToolCall, tool
from common.contracts.tools import ToolObservation

__all__ = ["SendEmailInput", "send_email"]


class SendEmailInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(description="Recipient email address")
    subject: str = Field(max_length=200)
    body: str = Field(max_length=50_000)


@tool(description="Send an email. Side effect: needs human approval.", side_effect=True, targets=("to",))
async def send_email(params: SendEmailInput, call: ToolCall) -> ToolObservation:
    approved = approved_delivery(call, "to", params.to, email_address)
    to = approved.target
    with refusal_told_to_the_model("send_email", DELIVERY_REJECTED):
        outcome = await approved.deliveries.email.send(
            to, params.subject, params.body, approved.idempotency_key
        )
    if outcome.duplicate:
        return ToolObservation(
            content=f"Already sent earlier: the email to {to} (Message-ID {outcome.message_id}) was "
            "sent for this call's idempotency key; not sent again."
        )
    return ToolObservation(content=f"Sent the email to {to} (Message-ID {outcome.message_id}).")
