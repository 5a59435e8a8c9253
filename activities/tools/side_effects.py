"""The agent's side-effect tools, `tool.send_webhook` and `tool.send_email`.

They run only after the approval gate approved the exact call, so they treat their input strictly:
arguments that do not fit the catalog schema raise a non-retryable `InvalidToolArguments` (the
workflow validated them before asking a human; getting here with bad ones is a bug, not something
for the model to retry). A receiver that refuses the approved call (HTTP 4xx, SMTP 5xx) becomes an
observation with `is_error=True`: the model can read it and propose something else, which needs a new
approval. Transient failures raise, and the activity's retry policy repeats the call with the same
idempotency key, so the receiver or the dedupe ledger sees it once.

The activities themselves are methods of `DeliveryActivities` (they share its HTTP pool and ledger);
this module is the tool-shaped glue around the delivery senders.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError

from activities.delivery.email import EmailSender
from activities.delivery.failures import (
    DELIVERY_REJECTED,
    DESTINATION_REFUSED,
    check_idempotency_key,
    describe_validation_error,
    invalid_tool_arguments,
)
from activities.delivery.targets import email_address, webhook_url
from activities.delivery.webhook import WebhookSender
from activities.tools.catalog import SendEmailInput, SendWebhookInput
from activities.tools.models import SideEffectToolInput, ToolObservation
from common.redact import redact_url

ArgumentsModel = TypeVar("ArgumentsModel", bound=BaseModel)


def validated_arguments(
    tool: str, model: type[ArgumentsModel], arguments: dict[str, object]
) -> ArgumentsModel:
    try:
        return model.model_validate(arguments)
    except ValidationError as error:
        raise invalid_tool_arguments(f"{tool}: {describe_validation_error(error)}") from None


async def send_webhook(sender: WebhookSender, request: SideEffectToolInput) -> ToolObservation:
    key = check_idempotency_key(request.idempotency_key)
    arguments = validated_arguments("send_webhook", SendWebhookInput, request.arguments)
    try:
        url = webhook_url(arguments.url)
    except ValueError as error:
        raise invalid_tool_arguments(f"send_webhook: url: {error}") from None
    try:
        outcome = await sender.post(url, arguments.payload, key)
    except ApplicationError as error:
        # Refused by the receiver or by the egress policy: the model reads why and may try elsewhere.
        if error.type in (DELIVERY_REJECTED, DESTINATION_REFUSED):
            return ToolObservation(content=f"send_webhook failed: {error.message}", is_error=True)
        raise
    shown = redact_url(url)
    if outcome.duplicate:
        return ToolObservation(
            content=f"Already delivered earlier: POST {shown} answered HTTP {outcome.status} for this "
            "call's idempotency key; not sent again."
        )
    return ToolObservation(content=f"Delivered: POST {shown} answered HTTP {outcome.status}.")


async def send_email(sender: EmailSender, request: SideEffectToolInput) -> ToolObservation:
    key = check_idempotency_key(request.idempotency_key)
    arguments = validated_arguments("send_email", SendEmailInput, request.arguments)
    try:
        to = email_address(arguments.to)
    except ValueError as error:
        raise invalid_tool_arguments(f"send_email: to: {error}") from None
    try:
        outcome = await sender.send(to, arguments.subject, arguments.body, key)
    except ApplicationError as error:
        if error.type == DELIVERY_REJECTED:
            return ToolObservation(content=f"send_email failed: {error.message}", is_error=True)
        raise
    if outcome.duplicate:
        return ToolObservation(
            content=f"Already sent earlier: the email to {to} (Message-ID {outcome.message_id}) was "
            "sent for this call's idempotency key; not sent again."
        )
    return ToolObservation(content=f"Sent the email to {to} (Message-ID {outcome.message_id}).")
