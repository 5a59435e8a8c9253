"""What the delivering tools (`send_email`, `send_webhook`) check before they send anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from activities.delivery.activity import DeliveryActivities
from activities.delivery.failures import bad_argument, check_idempotency_key
from activities.resources import resources
from activities.tools.declare import ToolCall

__all__ = ["ApprovedDelivery", "approved_delivery"]


@dataclass(frozen=True)
class ApprovedDelivery:
    deliveries: DeliveryActivities
    idempotency_key: str
    target: str


def approved_delivery(
    call: ToolCall, field: str, value: str, check: Callable[[str], str]
) -> ApprovedDelivery:
    """The worker's senders, the call's key and its checked target; a bad key or target is a
    non-retryable error (the model's approved arguments cannot get better on a retry)."""
    key = check_idempotency_key(call.idempotency_key or "")
    with bad_argument(call.name, field):
        target = check(value)
    return ApprovedDelivery(resources().get("deliveries", DeliveryActivities.from_settings), key, target)
