"""The approval gate on the time-skipping server: Update and Signal decisions, refusals that leave no
trace, deadline escalation and policy, and a decision bound to the hash of what was proposed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.llm.models import TextBlock, ToolResultBlock, ToolUseBlock
from common.search_attributes import APPROVAL_DEADLINE, APPROVERS, PHASE
from common.settings import Settings
from tests.workflow.doubles import Recorder, ScriptedModel, offline_llm
from tests.workflow.support import pending_approval, status_until, worker_with
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, ApprovalDecision, ResearchInput
from workflows.research import ResearchWorkflow


def research_input(**overrides: object) -> ResearchInput:
    fields: dict[str, object] = {"topic": "tide pools", "max_subtopics": 2, "approvers": ["alice", "bob"]}
    return ResearchInput.model_validate(fields | overrides)


def refusal_type(error: WorkflowUpdateFailedError) -> str | None:
    assert isinstance(error.cause, ApplicationError)
    return error.cause.type


async def test_update_approves_and_refused_updates_leave_no_trace(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    params = research_input(deliver_to="https://hooks.example/report?token=s3cret")
    async with worker_with(ts_client, settings, [offline_llm().complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            ResearchWorkflow.run, params, id=f"research-{uuid.uuid4().hex}", task_queue=task_queue
        )
        status = await pending_approval(handle)
        pending = status.pending_approval
        assert pending is not None and status.phase == "awaiting_approval"
        assert "tide pools" in pending.action and "hooks.example/report" in pending.action
        assert "s3cret" not in pending.action  # a URL's query may hold a token: never shown
        assert pending.proposed is not None
        target = pending.proposed.fields[0]
        assert (target.name, target.target) == ("deliver_to", True)
        assert target.value == "https://hooks.example/report?token=%2A%2A%2A"  # the key stays visible
        report = next(f.value for f in pending.proposed.fields if f.name == "report")
        assert all(line in pending.action for line in report.splitlines())
        assert pending.deadline - pending.requested_at == timedelta(hours=24)
        assert pending.approvers == ["alice", "bob"]

        # What a person sees in the Web UI and `temporal workflow list`.
        attributes = (await handle.describe()).typed_search_attributes
        assert attributes.get(PHASE) == "awaiting_approval"
        assert attributes.get(APPROVAL_DEADLINE) == pending.deadline
        assert attributes.get(APPROVERS) == ["alice", "bob"]
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert pending.action_hash in metadata.current_details
        assert "alice, bob" in metadata.current_details

        refusals = [
            (
                ApprovalDecision(approver="mallory", approved=True, comment="mallory-was-here"),
                "UnknownApprover",
            ),
            (ApprovalDecision(approver="alice", approved=True, action_hash="0" * 64), "ActionChanged"),
        ]
        for decision, expected in refusals:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(ResearchWorkflow.approve, decision)
            assert refusal_type(refused.value) == expected

        record = await handle.execute_update(
            ResearchWorkflow.approve,
            ApprovalDecision(
                approver="bob", approved=True, comment="ship it", action_hash=pending.action_hash
            ),
        )
        assert (record.approver, record.approved, record.via) == ("bob", True, "update")
        assert record.action_hash == pending.action_hash

        with pytest.raises(WorkflowUpdateFailedError) as repeat:
            await handle.execute_update(
                ResearchWorkflow.approve, ApprovalDecision(approver="alice", approved=False)
            )
        assert refusal_type(repeat.value) == "AlreadyDecided"
        result = await handle.result()

    assert result.outcome == "completed"
    assert result.approval is not None and result.approval.comment == "ship it"
    assert report == result.report  # the reviewer saw the whole report that was delivered
    # One run chain's key: a new run under a reused id delivers anew (tests/delivery/test_reused_id.py).
    chain = f"{handle.id}/{handle.first_execution_run_id}"
    assert [d.idempotency_key for d in recorder.deliveries] == [f"{chain}/deliver"]
    kinds = [s.kind for s in result.steps]
    assert kinds.index("approval") < kinds.index("delivery")

    history = await handle.fetch_history()
    update_events = [
        e
        for e in history.events
        if e.event_type
        in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
        )
    ]
    assert len(update_events) == 1  # bob's; the three refused updates were never written
    accepted = update_events[0].workflow_execution_update_accepted_event_attributes
    assert b"bob" in accepted.accepted_request.input.args.payloads[0].data
    assert not any(b"mallory" in e.SerializeToString() for e in history.events)


async def test_signal_decides_and_an_invalid_signal_is_ignored(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    params = research_input(deliver_to="mailto:team@example.com")
    async with worker_with(ts_client, settings, [offline_llm().complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            ResearchWorkflow.run, params, id=f"research-{uuid.uuid4().hex}", task_queue=task_queue
        )
        await pending_approval(handle)
        # By name, as `temporal workflow signal --name approve` sends it.
        await handle.signal("approve", ApprovalDecision(approver="mallory", approved=True))
        await handle.signal("approve", ApprovalDecision(approver="alice", approved=False, comment="not yet"))
        result = await handle.result()

    assert result.outcome == "rejected"
    assert result.approval is not None
    assert (result.approval.approver, result.approval.via, result.approval.comment) == (
        "alice",
        "signal",
        "not yet",
    )
    assert recorder.deliveries == []


async def test_deadline_escalates_then_default_policy_rejects(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    params = research_input(deliver_to="mailto:team@example.com", approval_timeout_s=3600)
    async with worker_with(ts_client, settings, [offline_llm().complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            ResearchWorkflow.run, params, id=f"research-{uuid.uuid4().hex}", task_queue=task_queue
        )
        result = await handle.result()  # the test server skips the hour

    assert result.outcome == "rejected"
    approval = result.approval
    assert approval is not None
    assert (approval.approver, approval.approved, approval.via) == ("policy", False, "deadline")
    [notice] = recorder.escalations
    assert notice.workflow_id == handle.id and notice.workflow_type == "ResearchWorkflow"
    assert notice.approvers == ["alice", "bob"] and notice.policy == "reject"
    assert notice.action_hash == approval.action_hash
    assert approval.decided_at >= notice.deadline
    assert recorder.deliveries == []


async def test_deadline_policy_approve_delivers(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    recorder = Recorder()
    params = research_input(deliver_to="file:reports", approval_timeout_s=600, approval_policy="approve")
    async with worker_with(ts_client, settings, [offline_llm().complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            ResearchWorkflow.run, params, id=f"research-{uuid.uuid4().hex}", task_queue=task_queue
        )
        result = await handle.result()
    assert result.outcome == "completed"
    assert result.approval is not None and result.approval.approved and result.approval.approver == "policy"
    assert result.approval.by_policy and result.approval.via == "deadline"
    assert len(recorder.escalations) == 1
    assert [d.target for d in recorder.deliveries] == ["file:reports"]


async def test_escalation_grace_period_still_accepts_a_decision(
    time_skipping_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    client = time_skipping_env.client
    recorder = Recorder()
    params = research_input(deliver_to="file:reports", approval_timeout_s=60, approval_grace_s=3600)
    async with worker_with(client, settings, [offline_llm().complete, *recorder.activities()]):
        handle = await client.start_workflow(
            ResearchWorkflow.run, params, id=f"research-{uuid.uuid4().hex}", task_queue=task_queue
        )
        await pending_approval(handle)
        await time_skipping_env.sleep(timedelta(seconds=61))
        await status_until(handle, lambda s: s.pending_approval is not None and s.pending_approval.escalated)
        await handle.execute_update(
            ResearchWorkflow.approve, ApprovalDecision(approver="alice", approved=True)
        )
        result = await handle.result()
    assert len(recorder.escalations) == 1
    assert result.approval is not None and result.approval.approver == "alice"
    assert result.outcome == "completed" and len(recorder.deliveries) == 1


async def test_changed_action_needs_a_new_approval(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    first = ToolUseBlock(
        id="t1", name="send_webhook", input={"url": "https://hooks.example/a", "payload": {"n": 1}}
    )
    second = ToolUseBlock(
        id="t2", name="send_webhook", input={"url": "https://hooks.example/a", "payload": {"n": 2}}
    )
    model = ScriptedModel([[first], [second], [TextBlock(text="done")]])
    recorder = Recorder()
    params = AgentInput(goal="notify the team", approvers=["alice"])
    async with worker_with(ts_client, settings, [model.complete, *recorder.activities()]):
        handle = await ts_client.start_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=task_queue
        )
        approved = (await pending_approval(handle)).pending_approval
        assert approved is not None and "send_webhook" in approved.action
        await handle.execute_update(
            AgentWorkflow.approve,
            ApprovalDecision(approver="alice", approved=True, action_hash=approved.action_hash),
        )
        status = await status_until(
            handle,
            lambda s: (
                s.pending_approval is not None and s.pending_approval.action_hash != approved.action_hash
            ),
        )
        changed = status.pending_approval
        assert changed is not None
        # The approval given for the first call does not carry over to the changed one.
        with pytest.raises(WorkflowUpdateFailedError) as stale:
            await handle.execute_update(
                AgentWorkflow.approve,
                ApprovalDecision(approver="alice", approved=True, action_hash=approved.action_hash),
            )
        assert refusal_type(stale.value) == "ActionChanged"
        await handle.execute_update(
            AgentWorkflow.approve,
            ApprovalDecision(
                approver="alice", approved=False, comment="wrong payload", action_hash=changed.action_hash
            ),
        )
        result = await handle.result()

    assert result.outcome == "completed"
    assert [(d.approved, d.action_hash) for d in result.decisions] == [
        (True, approved.action_hash),
        (False, changed.action_hash),
    ]
    [(tool, sent)] = recorder.side_effects
    assert tool == "send_webhook" and sent.arguments["payload"] == {"n": 1}
    chain = f"{handle.id}/{handle.first_execution_run_id}"
    assert sent.idempotency_key == f"{chain}/step-1/send_webhook-{approved.action_hash[:16]}"
    answer_to_rejection = model.requests[2].messages[-1].content[0]
    assert isinstance(answer_to_rejection, ToolResultBlock) and answer_to_rejection.is_error
    assert answer_to_rejection.content == "rejected by alice: wrong payload"
