"""The `send_email` tool: send an email over SMTP, once, after a person approved that exact call.

The dedupe ledger keeps the call's idempotency key, so a retried send is not sent again. A server that
refuses the message (SMTP 5xx) is an error observation the model can read; transient failures raise,
and Temporal retries with the same key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from activities.delivery.activity import DeliveryActivities
from activities.delivery.failures import (
    DELIVERY_REJECTED,
    bad_argument,
    check_idempotency_key,
    refusal_told_to_the_model,
)
from activities.delivery.targets import email_address
from activities.resources import resources
from activities.tools.declare import ToolCall, tool
from common.contracts.tools import ToolObservation

__all__ = ["SendEmailInput", "send_email"]


class SendEmailInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(description="Recipient email address")
    subject: str = Field(max_length=200)
    body: str = Field(max_length=50_000)


@tool(description="Send an email. Side effect: needs human approval.", side_effect=True)
async def send_email(params: SendEmailInput, call: ToolCall) -> ToolObservation:
    sender = resources().get("deliveries", DeliveryActivities.from_settings).email
    key = check_idempotency_key(call.idempotency_key or "")
    with bad_argument("send_email", "to"):
        to = email_address(params.to)
    with refusal_told_to_the_model("send_email", DELIVERY_REJECTED):
        outcome = await sender.send(to, params.subject, params.body, key)
    if outcome.duplicate:
        return ToolObservation(
            content=f"Already sent earlier: the email to {to} (Message-ID {outcome.message_id}) was "
            "sent for this call's idempotency key; not sent again."
        )
    return ToolObservation(content=f"Sent the email to {to} (Message-ID {outcome.message_id}).")
