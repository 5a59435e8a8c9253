"""TicketTriageWorkflow on the time-skipping server, through the testing kit's fixtures (`kit_env`,
`kit_worker`: the ai_workflows pytest plugin, as any package of one's own uses it), with the example's
tool activities and the offline or a scripted model: the reviewer sees the recipient first and the
whole reply, an approved reply is sent once, a rejected one (or one nobody decided on in time) is not
sent."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from ticket_triage.extension import EXTENSION
from ticket_triage.models import TicketTriageInput, TicketTriageResult
from ticket_triage.tools import outbox_file
from ticket_triage.workflow import TicketTriageWorkflow, parse_category
from triage_support import outbox_messages

from workflows.kit.pytest_plugin import KitWorkerFactory, decide, wait_for_approval
from workflows.kit.testing import ScriptedModel

TICKET = "Billing problem: I was charged twice for order 1234.\nPlease refund one of the charges."


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The worker's activities run in this process: they read the outbox setting from here."""
    monkeypatch.setenv("TICKET_TRIAGE_OUTBOX_DIR", str(tmp_path / "outbox"))
    return tmp_path / "outbox"


async def start(
    env: WorkflowEnvironment, task_queue: str, **overrides: Any
) -> WorkflowHandle[Any, TicketTriageResult]:
    params = TicketTriageInput(
        ticket=TICKET, customer_email="ana@example.com", approvers=["ana"], **overrides
    )
    return await env.client.start_workflow(
        "TicketTriageWorkflow",
        params,
        id=f"triage-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=TicketTriageResult,
    )


async def test_approved_reply_is_sent_once_with_the_whole_run_in_the_result(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, outbox: Path
) -> None:
    async with kit_worker(extensions=[EXTENSION]) as worker:
        handle = await start(kit_env, worker.task_queue)
        pending = await wait_for_approval(handle)
        decided = await decide(handle, "ana")
        result = await handle.result()
        history = await handle.fetch_history()
    # The run's history replays on the workflow code as it is: it is deterministic.
    await Replayer(
        workflows=[TicketTriageWorkflow], data_converter=kit_env.client.data_converter
    ).replay_workflow(history)

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
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, outbox: Path
) -> None:
    async with kit_worker(extensions=[EXTENSION]) as worker:
        handle = await start(kit_env, worker.task_queue)
        await decide(handle, "ana", approved=False, comment="too curt")
        result = await handle.result()
    assert result.outcome == "rejected" and result.approval is not None
    assert result.approval.comment == "too curt"
    assert result.sent == "rejected by ana: too curt"
    assert outbox_messages(outbox) == []


async def test_nobody_decides_then_the_policy_rejects_and_nothing_is_sent(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, outbox: Path
) -> None:
    """A day of waiting takes no time on the time-skipping server."""
    async with kit_worker(extensions=[EXTENSION]) as worker:
        handle = await start(kit_env, worker.task_queue, approval_timeout_s=24 * 3600.0)
        result = await handle.result()
    assert result.outcome == "rejected"
    assert result.approval is not None and result.approval.by_policy
    assert outbox_messages(outbox) == []


async def test_a_run_without_approvers_fails_at_once(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    async with kit_worker(extensions=[EXTENSION]) as worker:
        handle = await kit_env.client.start_workflow(
            "TicketTriageWorkflow",
            {"ticket": TICKET, "customer_email": "ana@example.com"},
            id=f"triage-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert "approvers" in str(failed.value.cause)


def test_the_category_is_the_first_one_the_reply_names() -> None:
    assert parse_category("Category: Bug (not billing)") == "bug"
    assert parse_category("This is a feature request.") == "feature_request"
    assert parse_category("I cannot tell") == "other"


async def test_the_classification_and_the_reply_are_the_models(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, outbox: Path
) -> None:
    """A scripted model answers each step as a real one might: the run follows what it says."""
    reply = "Hello Ana, we refunded the second charge of order 1234."
    model = ScriptedModel(
        [
            {"match": {"step_kind": "classify"}, "reply": {"text": "Category: bug (not billing)"}},
            {"match": {"step_kind": "draft_reply", "contains": "Ana Lima"}, "reply": {"text": reply}},
        ]
    )
    async with kit_worker(extensions=[EXTENSION], model=model) as worker:
        handle = await start(kit_env, worker.task_queue)
        pending = await wait_for_approval(handle)
        await decide(handle, "ana")
        result = await handle.result()
    assert (result.classification, result.reply, result.outcome) == ("bug", reply, "sent")
    assert pending.proposed is not None and reply in [field.value for field in pending.proposed.fields]
    # The draft was asked with the category and the customer record the lookup found.
    classify, draft = model.requests
    assert classify.max_tokens == 20 and "Ticket (bug)" in draft.messages[0].content[0].model_dump_json()
