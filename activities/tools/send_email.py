"""The `send_email` tool: send an email over SMTP, once, after a person approved that exact call.

The dedupe ledger keeps the call's idempotency key, so a retried send is not sent again; a server that
refuses the message (SMTP 5xx) is an error observation the model can read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from activities.delivery.activity import DeliveryActivities
from activities.resources import resources
from activities.tools import side_effects
from activities.tools.declare import ToolCall, tool
from activities.tools.models import SideEffectToolInput, ToolObservation

__all__ = ["SendEmailInput", "send_email"]


class SendEmailInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(description="Recipient email address")
    subject: str = Field(max_length=200)
    body: str = Field(max_length=50_000)


@tool(description="Send an email. Side effect: needs human approval.", side_effect=True)
async def send_email(params: SendEmailInput, call: ToolCall) -> ToolObservation:
    sender = resources().get("deliveries", DeliveryActivities.from_settings).email
    request = SideEffectToolInput(
        arguments=params.model_dump(mode="json"), idempotency_key=call.idempotency_key or ""
    )
    return await side_effects.send_email(sender, request)
