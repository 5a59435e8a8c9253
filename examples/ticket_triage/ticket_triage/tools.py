"""The example's own tools, declared with the kit's `@tool`: each is a typed async function whose
input model is the schema the model (and the reviewer) sees, and becomes the activity `tool.<name>`.

- `lookup_customer` (read-only): a customer by email from a small customer file.
- `send_reply` (side effect: runs only after a person approved that exact call): writes the reply to
  an outbox directory, one file per idempotency key, so a retried send is a no-op at the receiver.

Activity code: file I/O and settings are fine here (never in workflow code).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.kit import ToolCall, ToolError, tool

__all__ = [
    "EMAIL_PATTERN",
    "LookupCustomerInput",
    "SendReplyInput",
    "TriageSettings",
    "lookup_customer",
    "outbox_file",
    "send_reply",
]

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
BUNDLED_CUSTOMERS = Path(__file__).with_name("customers.json")


class TriageSettings(BaseSettings):
    """The example's settings, read by its activities from the environment of the worker."""

    model_config = SettingsConfigDict(env_prefix="TICKET_TRIAGE_", extra="ignore")

    # A JSON list of customers ({"email", "name", "plan", ...}); default: the file shipped here.
    customers_file: Path = BUNDLED_CUSTOMERS
    # Where `send_reply` delivers: one JSON file per sent reply.
    outbox_dir: Path = Path(".state/ticket-triage-outbox")


class LookupCustomerInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(pattern=EMAIL_PATTERN, max_length=320, description="The customer's email address")


class SendReplyInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(pattern=EMAIL_PATTERN, max_length=320, description="The customer's email address")
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000, description="The whole reply")


def _customers(path: Path) -> list[dict[str, object]]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        # The worker's file is missing or broken: an operator fixes it, retries then succeed.
        raise RuntimeError(f"customer file {path}: {error}") from None
    if not isinstance(loaded, list):
        raise RuntimeError(f"customer file {path}: expected a JSON list of customers")
    return [entry for entry in loaded if isinstance(entry, dict)]


@tool(description="Look up a customer by email: name, plan, since when, open tickets. Read-only.")
async def lookup_customer(params: LookupCustomerInput) -> str:
    customers = await asyncio.to_thread(_customers, TriageSettings().customers_file)
    wanted = params.email.strip().lower()
    for customer in customers:
        if str(customer.get("email", "")).lower() == wanted:
            return json.dumps(customer, sort_keys=True)
    raise ToolError(f"no customer with email {params.email}")


def outbox_file(outbox: Path, idempotency_key: str) -> Path:
    """The one file a send with this key may write: the key decides the name."""
    return outbox / f"{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}.json"


def _deliver(outbox: Path, idempotency_key: str, params: SendReplyInput) -> tuple[Path, bool]:
    """Writes the message once: a complete file appears under its key's name or nothing does
    (written aside, then hard-linked, which fails if the name exists). True when it was new."""
    outbox.mkdir(parents=True, exist_ok=True)
    target = outbox_file(outbox, idempotency_key)
    message = {"idempotency_key": idempotency_key, **params.model_dump()}
    descriptor, temporary = tempfile.mkstemp(dir=outbox, prefix=".sending-")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(message, handle, ensure_ascii=False, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, target)
        except FileExistsError:
            return target, False  # this call was sent before: a retry after a lost acknowledgement
        return target, True
    finally:
        os.unlink(temporary)


@tool(
    description="Send the reply to the customer by email. Side effect: a person approves it first.",
    side_effect=True,
    targets=("to",),  # what the reviewer sees first: where the reply goes
)
async def send_reply(params: SendReplyInput, call: ToolCall) -> str:
    if not call.idempotency_key:
        raise ToolError("send_reply needs an idempotency key: call it through the run context")
    outbox = TriageSettings().outbox_dir
    path, new = await asyncio.to_thread(_deliver, outbox, call.idempotency_key, params)
    return f"{'sent' if new else 'already sent'} to {params.to} as {path.name}"
