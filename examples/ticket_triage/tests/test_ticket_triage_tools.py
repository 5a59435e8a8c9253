"""The example's tools as activities: the lookup reads the customer file of its setting, and a send
with the same idempotency key delivers once however often it is retried."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment
from ticket_triage.tools import LookupCustomerInput, lookup_customer, outbox_file, send_reply
from triage_support import outbox_messages, outbox_names

from activities.kit import SideEffectToolInput, ToolObservation

REPLY = {"to": "ana@example.com", "subject": "Re: invoice", "body": "Hello Ana,\nwe refunded it."}


async def test_a_retried_send_delivers_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_TRIAGE_OUTBOX_DIR", str(tmp_path))
    request = SideEffectToolInput(arguments=REPLY, idempotency_key="run-1/step-2/send_reply-abc")
    first: ToolObservation = await ActivityEnvironment().run(send_reply.activity, request)
    again: ToolObservation = await ActivityEnvironment().run(send_reply.activity, request)
    name = outbox_file(tmp_path, request.idempotency_key).name
    assert (first.content, first.is_error) == (f"sent to ana@example.com as {name}", False)
    assert (again.content, again.is_error) == (f"already sent to ana@example.com as {name}", False)
    assert outbox_messages(tmp_path) == [{"idempotency_key": request.idempotency_key, **REPLY}]
    assert outbox_names(tmp_path) == [name]  # nothing half-written left behind

    other = request.model_copy(update={"idempotency_key": "run-2/step-2/send_reply-abc"})
    await ActivityEnvironment().run(send_reply.activity, other)
    assert len(outbox_messages(tmp_path)) == 2


async def test_a_send_without_a_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_TRIAGE_OUTBOX_DIR", str(tmp_path))
    request = SideEffectToolInput(arguments=REPLY, idempotency_key="")
    seen: ToolObservation = await ActivityEnvironment().run(send_reply.activity, request)
    assert seen.is_error and "idempotency key" in seen.content
    assert outbox_messages(tmp_path) == []


async def test_lookup_reads_the_customer_file_of_its_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped: ToolObservation = await ActivityEnvironment().run(
        lookup_customer.activity, LookupCustomerInput(email="Ana@Example.com")
    )
    assert json.loads(shipped.content)["name"] == "Ana Lima" and not shipped.is_error

    customers = tmp_path / "customers.json"
    customers.write_text(json.dumps([{"email": "zoe@example.net", "name": "Zoe", "plan": "pro"}]))
    monkeypatch.setenv("TICKET_TRIAGE_CUSTOMERS_FILE", str(customers))
    found: ToolObservation = await ActivityEnvironment().run(
        lookup_customer.activity, LookupCustomerInput(email="zoe@example.net")
    )
    missing: ToolObservation = await ActivityEnvironment().run(
        lookup_customer.activity, LookupCustomerInput(email="ana@example.com")
    )
    assert json.loads(found.content)["plan"] == "pro"
    assert (missing.content, missing.is_error) == ("no customer with email ana@example.com", True)
