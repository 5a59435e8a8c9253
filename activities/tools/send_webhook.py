"""The `send_webhook` tool: POST a JSON payload to a URL, once, after a person approved that exact call.

The receiver sees the call's idempotency key in the `Idempotency-Key` header, so a retried POST is
recognised. A receiver that refuses the call (HTTP 4xx) or a destination the egress policy refuses is
an error observation the model can read and act on (proposing something else needs a new approval);
transient failures raise, and Temporal retries with the same key.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from activities.delivery.failures import DELIVERY_REJECTED, DESTINATION_REFUSED, refusal_told_to_the_model
from activities.delivery.targets import webhook_url
from activities.tools.approved_delivery import approved_delivery
from activities.tools.declare import ToolCall, tool
from common.contracts.tools import ToolObservation
from common.redact import redact_url

__all__ = ["SendWebhookInput", "send_webhook"]


class SendWebhookInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="http(s) URL to POST to")
    payload: dict[str, Any] = Field(description="JSON object to send")


@tool(
    description="POST a JSON payload to a URL. Side effect: needs human approval.",
    side_effect=True,
    targets=("url",),
)
async def send_webhook(params: SendWebhookInput, call: ToolCall) -> ToolObservation:
    approved = approved_delivery(call, "url", params.url, webhook_url)
    # Refused by the receiver or by the egress policy: the model reads why and may try elsewhere.
    with refusal_told_to_the_model("send_webhook", DELIVERY_REJECTED, DESTINATION_REFUSED):
        outcome = await approved.deliveries.webhook.post(
            approved.target, params.payload, approved.idempotency_key
        )
    shown = redact_url(approved.target)
    if outcome.duplicate:
        return ToolObservation(
            content=f"Already delivered earlier: POST {shown} answered HTTP {outcome.status} for this "
            "call's idempotency key; not sent again."
        )
    return ToolObservation(content=f"Delivered: POST {shown} answered HTTP {outcome.status}.")
