"""Contract of the delivery activity (`delivery.deliver`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "DeliveryReceipt",
    "DeliveryRequest",
]


class DeliveryRequest(BaseModel):
    target: str  # `http(s)://...`, `mailto:ADDR`, or `file:DIR`
    idempotency_key: str  # `{workflow_id}/{step}`, made in the workflow
    subject: str
    body: str  # the report as text (email body, file content)
    data: dict[str, Any] = Field(default_factory=dict)  # the report as JSON (webhook body)


class DeliveryReceipt(BaseModel):
    target: str
    idempotency_key: str
    channel: str  # "webhook", "email", "file"
    detail: str = ""  # HTTP status, Message-ID, file path
    duplicate: bool = False  # the ledger or the receiver had already seen this key
