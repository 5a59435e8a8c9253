"""The `send_webhook` tool: POST a JSON payload to a URL, once, after a person approved that exact call.

The receiver sees the call's idempotency key in the `Idempotency-Key` header, so a retried POST is
recognised; a receiver that refuses the call (HTTP 4xx) is an error observation the model can read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from activities.delivery.activity import DeliveryActivities
from activities.resources import resources
from activities.tools import side_effects
from activities.tools.declare import ToolCall, tool
from activities.tools.models import SideEffectToolInput, ToolObservation

__all__ = ["SendWebhookInput", "send_webhook"]


class SendWebhookInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="http(s) URL to POST to")
    payload: dict[str, Any] = Field(description="JSON object to send")


@tool(description="POST a JSON payload to a URL. Side effect: needs human approval.", side_effect=True)
async def send_webhook(params: SendWebhookInput, call: ToolCall) -> ToolObservation:
    sender = resources().get("deliveries", DeliveryActivities.from_settings).webhook
    request = SideEffectToolInput(
        arguments=params.model_dump(mode="json"), idempotency_key=call.idempotency_key or ""
    )
    return await side_effects.send_webhook(sender, request)
