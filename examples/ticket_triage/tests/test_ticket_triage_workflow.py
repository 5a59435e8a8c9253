"""TicketTriageWorkflow on the time-skipping server, with the example's tool activities and the
offline model: the reviewer sees the recipient first and the whole reply, an approved reply is sent
once, a rejected one (or one nobody decided on in time) is not sent."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker
from ticket_triage.extension import EXTENSION
from ticket_triage.models import TicketTriageInput, TicketTriageResult
from ticket_triage.tools import outbox_file
from ticket_triage.workflow import TicketTriageWorkflow, parse_category
from triage_support import outbox_messages, pending_approval

from common.settings import Settings
from worker.plugin import AiWorkflowsPlugin
from workflows.kit import ApprovalDecision, ApprovalRecord

TICKET = "Billing problem: I was charged twice for order 1234.\nPlease refund one of the charges."


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The worker's activities run in this process: they read the outbox setting from here."""
    monkeypatch.setenv("TICKET_TRIAGE_OUTBOX_DIR", str(tmp_path / "outbox"))
    return tmp_path / "outbox"


def triage_worker(client: Client, settings: Settings) -> Worker:
    plugin = AiWorkflowsPlugin(settings, extensions=[EXTENSION])
    return Worker(client, task_queue=settings.temporal_task_queue, plugins=[plugin])


async def start(
    client: Client, settings: Settings, **overrides: Any
) -> WorkflowHandle[Any, TicketTriageResult]:
    params = TicketTriageInput(
        ticket=TICKET, customer_email="ana@example.com", approvers=["ana"], **overrides
    )
    return await client.start_workflow(
        "TicketTriageWorkflow",
        params,
        id=f"triage-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal_task_queue,
        result_type=TicketTriageResult,
    )


async def test_approved_reply_is_sent_once_with_the_whole_run_in_the_result(
    time_skipping_env: WorkflowEnvironment, settings: Settings, outbox: Path
) -> None:
    client = time_skipping_env.client
    async with triage_worker(client, settings):
        handle = await start(client, settings)
        pending = await pending_approval(handle)
        decided = await handle.execute_update(
            "approve",
            ApprovalDecision(approver="ana", approved=True, action_hash=pending.action_hash),
            result_type=ApprovalRecord,
        )
        result = await handle.result()
        history = await handle.fetch_history()
    # The run's history replays on the workflow code as it is: it is deterministic.
    await Replayer(workflows=[TicketTriageWorkflow], data_converter=client.data_converter).replay_workflow(
        history
    )

    # What the reviewer saw: the recipient first, then every argument in full.
    proposed = pending.proposed
    assert proposed is not None and proposed.title == "send_reply to ana@example.com"
    fields = {field.name: field for field in proposed.fields}
    assert proposed.fields[0].name == "to" and proposed.fields[0].target
    assert fields["body"].value == result.reply and fields["subject"].value == "Re: " + TICKET.splitlines()[0]

    assert result.outcome == "sent" and decided.approved and result.approval == decided
    assert result.classification == "billing"
    assert json.loads(result.customer)["name"] == "Ana Lima"
    assert result.reply.startswith("[offline model] draft_reply (ref ") and "Ana Lima" in result.reply
    (message,) = outbox_messages(outbox, handle.id)
    assert (message["to"], message["body"]) == ("ana@example.com", result.reply)
    assert message["idempotency_key"].startswith(
        f"{handle.id}/{handle.first_execution_run_id}/tool-2/send_reply-"
    )
    assert result.sent == f"sent to ana@example.com as {outbox_file(outbox, message['idempotency_key']).name}"

    steps = [step.step for step in result.steps]
    assert steps == ["classify", "tool 1 lookup_customer", "draft reply", "approval 1", "tool 2 send_reply"]
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.usage.input_tokens == sum(step.input_tokens for step in result.steps)


async def test_rejected_reply_is_not_sent(
    time_skipping_env: WorkflowEnvironment, settings: Settings, outbox: Path
) -> None:
    client = time_skipping_env.client
    async with triage_worker(client, settings):
        handle = await start(client, settings)
        await pending_approval(handle)
        await handle.execute_update(
            "approve", ApprovalDecision(approver="ana", approved=False, comment="too curt")
        )
        result = await handle.result()
    assert result.outcome == "rejected" and result.approval is not None
    assert result.approval.comment == "too curt"
    assert result.sent == "rejected by ana: too curt"
    assert outbox_messages(outbox) == []


async def test_nobody_decides_then_the_policy_rejects_and_nothing_is_sent(
    time_skipping_env: WorkflowEnvironment, settings: Settings, outbox: Path
) -> None:
    """A day of waiting takes no time on the time-skipping server."""
    client = time_skipping_env.client
    async with triage_worker(client, settings):
        handle = await start(client, settings, approval_timeout_s=24 * 3600.0)
        result = await handle.result()
    assert result.outcome == "rejected"
    assert result.approval is not None and result.approval.by_policy
    assert outbox_messages(outbox) == []


async def test_a_run_without_approvers_fails_at_once(
    time_skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = time_skipping_env.client
    async with triage_worker(client, settings):
        handle = await client.start_workflow(
            "TicketTriageWorkflow",
            {"ticket": TICKET, "customer_email": "ana@example.com"},
            id=f"triage-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert "approvers" in str(failed.value.cause)


def test_the_category_is_the_first_one_the_reply_names() -> None:
    assert parse_category("Category: Bug (not billing)") == "bug"
    assert parse_category("This is a feature request.") == "feature_request"
    assert parse_category("I cannot tell") == "other"
