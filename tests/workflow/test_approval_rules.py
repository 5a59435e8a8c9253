"""Approval rules and signed decisions on the time-skipping server, with a scripted model, the real
`send_webhook` tool and a real HTTP receiver: a rule approves a webhook to an allowed URL while the
same tool to another URL waits; a deny rule; a two-person rule; a run's own stricter rule; "for the
rest of this run"; and with `APPROVER_KEYS_FILE`, only a decision signed by the approver's key
counts (an unsigned one, one signed for another run, or an expired one is refused)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from common.approval_signing import load_private_key, new_key_pair, sign_decision
from common.settings import Settings
from tests.fakes.receivers import HttpReceiver
from workflows.agent import AgentWorkflow
from workflows.kit import ApprovalDecision, WorkflowStatus
from workflows.kit.pytest_plugin import run_kit_worker, wait_for_approval
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput, AgentResult

pytestmark = pytest.mark.timeout(90)


def webhook_calls(*urls: str) -> ScriptedModel:
    """One turn per URL, each calling send_webhook once, then an answer."""
    rules: list[dict[str, Any]] = [
        {
            "match": {"turn": index},
            "reply": {
                "tool_calls": [{"name": "send_webhook", "input": {"url": url, "payload": {"n": index}}}]
            },
        }
        for index, url in enumerate(urls)
    ]
    return ScriptedModel([*rules, {"reply": {"text": "done"}}])


@pytest.fixture
def rules_file(tmp_path: Path) -> Any:
    def write(rules: list[dict[str, Any]]) -> str:
        path = tmp_path / f"rules-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(rules))
        return str(path)

    return write


def with_policy(settings: Settings, **files: str) -> Settings:
    # The suite's receiver listens on loopback, which egress refuses by default.
    return settings.model_copy(update={"egress_allow_private": "127.0.0.1", **files})


async def start_agent(client: Client, queue: str, **fields: Any) -> WorkflowHandle[Any, AgentResult]:
    params = AgentInput(goal="send the hooks", tools=["send_webhook"], approvers=["ana", "bo"], **fields)
    return await client.start_workflow(
        AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex[:8]}", task_queue=queue
    )


async def test_a_rule_approves_an_allowed_url_and_the_same_tool_elsewhere_waits(
    kit_env: WorkflowEnvironment, kit_settings: Settings, http_receiver: HttpReceiver, rules_file: Any
) -> None:
    allowed, other = f"{http_receiver.url}/allowed", f"{http_receiver.url}/other"
    path = rules_file(
        [{"name": "hooks", "tool": "send_*", "when": {"url": {"startswith": allowed}}, "decision": "approve"}]
    )
    settings = with_policy(kit_settings, approval_rules_file=path)
    async with run_kit_worker(kit_env.client, settings, model=webhook_calls(allowed, other)):
        handle = await start_agent(kit_env.client, settings.temporal_task_queue)
        pending = await wait_for_approval(handle)  # only the second call waits
        assert other in pending.action and len(http_receiver.requests) == 1
        await handle.execute_update("approve", ApprovalDecision(approver="ana", approved=True))
        result = await handle.result()
    first, second = result.decisions
    assert (first.via, first.approver, first.by_rule, first.approved) == ("rule", "rule hooks", "hooks", True)
    assert (second.via, second.approver) == ("update", "ana")
    assert [r.path for r in http_receiver.requests] == ["/allowed", "/other"]


async def test_a_deny_rule_refuses_the_call_and_the_model_reads_why(
    kit_env: WorkflowEnvironment, kit_settings: Settings, http_receiver: HttpReceiver, rules_file: Any
) -> None:
    path = rules_file([{"tool": "send_webhook", "decision": "deny", "name": "no hooks"}])
    settings = with_policy(kit_settings, approval_rules_file=path)
    model = webhook_calls(f"{http_receiver.url}/x")
    async with run_kit_worker(kit_env.client, settings, model=model):
        result = await (await start_agent(kit_env.client, settings.temporal_task_queue)).result()
    assert result.decisions == [] and http_receiver.requests == []
    assert "refused by approval rule 'no hooks'" in str(model.requests[1].messages[-1])


async def test_a_two_person_rule_needs_two_different_approvers(
    kit_env: WorkflowEnvironment, kit_settings: Settings, http_receiver: HttpReceiver, rules_file: Any
) -> None:
    path = rules_file([{"tool": "send_webhook", "decision": "require", "approvers": 2}])
    settings = with_policy(kit_settings, approval_rules_file=path)
    async with run_kit_worker(kit_env.client, settings, model=webhook_calls(f"{http_receiver.url}/pay")):
        handle = await start_agent(kit_env.client, settings.temporal_task_queue)
        await wait_for_approval(handle)
        await handle.execute_update("approve", ApprovalDecision(approver="ana", approved=True))
        status = await handle.query("status", result_type=WorkflowStatus)
        assert status.pending_approval is not None and status.pending_approval.approved_by == ["ana"]
        assert http_receiver.requests == []  # one approval of two: nothing ran
        with pytest.raises(WorkflowUpdateFailedError) as again:
            await handle.execute_update("approve", ApprovalDecision(approver="ana", approved=True))
        assert "2 different approvers" in str(again.value.cause)
        await handle.execute_update("approve", ApprovalDecision(approver="bo", approved=True))
        result = await handle.result()
    assert [(d.approver, d.approved) for d in result.decisions] == [("ana", True), ("bo", True)]
    assert len(http_receiver.requests) == 1


async def test_a_runs_own_rules_are_stricter_only(
    kit_env: WorkflowEnvironment, kit_settings: Settings, http_receiver: HttpReceiver, rules_file: Any
) -> None:
    url = f"{http_receiver.url}/hook"
    path = rules_file([{"tool": "send_webhook", "decision": "approve"}])
    settings = with_policy(kit_settings, approval_rules_file=path)
    async with run_kit_worker(kit_env.client, settings, model=webhook_calls(url)):
        strict = [{"tool": "send_webhook", "decision": "deny", "name": "not in this run"}]
        result = await (
            await start_agent(kit_env.client, settings.temporal_task_queue, approval_rules=strict)
        ).result()
    assert http_receiver.requests == [] and result.decisions == []
    with pytest.raises(ValueError, match="may only require or deny"):
        AgentInput(goal="x", approval_rules=[{"tool": "*", "decision": "approve"}])


async def test_an_approval_for_the_rest_of_the_run_covers_the_same_target_only(
    kit_env: WorkflowEnvironment, kit_settings: Settings, http_receiver: HttpReceiver
) -> None:
    same, other = f"{http_receiver.url}/same", f"{http_receiver.url}/other"
    settings = with_policy(kit_settings)
    async with run_kit_worker(kit_env.client, settings, model=webhook_calls(same, same, other)):
        handle = await start_agent(kit_env.client, settings.temporal_task_queue)
        await wait_for_approval(handle)
        await handle.execute_update("approve", ApprovalDecision(approver="ana", approved=True, for_run=True))
        pending = await wait_for_approval(handle)  # the second call to `same` did not wait
        assert other in pending.action
        await handle.execute_update("approve", ApprovalDecision(approver="bo", approved=True))
        result = await handle.result()
    assert [d.via for d in result.decisions] == ["update", "for_run", "update"]
    assert result.decisions[1].approver == "ana" and len(http_receiver.requests) == 3


def signed(
    key_path: Path, workflow_id: str, action_hash: str, approver: str = "ana", **fields: Any
) -> ApprovalDecision:
    expires = fields.pop("expires_at", datetime.now(UTC) + timedelta(minutes=10))
    signature = sign_decision(
        load_private_key(key_path),
        workflow_id=workflow_id,
        action_hash=action_hash,
        approver=approver,
        approved=True,
        budget_usd=None,
        for_run=False,
        expires_at=expires,
    )
    return ApprovalDecision(
        approver=approver, approved=True, signature=signature, expires_at=expires, **fields
    )


async def test_with_keys_only_a_decision_signed_for_this_run_and_action_counts(
    kit_env: WorkflowEnvironment, kit_settings: Settings, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    ana_key, ana_pub = new_key_pair("ana", tmp_path / "keys")
    _, bo_pub = new_key_pair("bo", tmp_path / "keys")
    keys_file = tmp_path / "approvers.json"
    keys_file.write_text(json.dumps({"ana": ana_pub.read_text().strip(), "bo": bo_pub.read_text().strip()}))
    settings = with_policy(kit_settings, approver_keys_file=str(keys_file))
    async with run_kit_worker(kit_env.client, settings, model=webhook_calls(f"{http_receiver.url}/signed")):
        handle = await start_agent(kit_env.client, settings.temporal_task_queue)
        pending = await wait_for_approval(handle)
        status = await handle.query("status", result_type=WorkflowStatus)
        assert status.decisions_authenticated
        refusals = {
            "unsigned": ApprovalDecision(approver="ana", approved=True),
            "another run": signed(ana_key, "agent-other", pending.action_hash),
            "another action": signed(ana_key, handle.id, "0" * 64),
            "expired": signed(
                ana_key, handle.id, pending.action_hash, expires_at=datetime.now(UTC) - timedelta(seconds=1)
            ),
            "not bo's key": signed(ana_key, handle.id, pending.action_hash, approver="bo"),
        }
        for case, decision in refusals.items():
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update("approve", decision)
            assert getattr(refused.value.cause, "type", None) == "DecisionNotSigned", case
        assert http_receiver.requests == []  # nothing ran on any of them
        decision = signed(ana_key, handle.id, pending.action_hash)
        record = await handle.execute_update("approve", decision)
        result = await handle.result()
    assert record["signed_by"] == "ana" and len(http_receiver.requests) == 1
    assert result.decisions[0].signed_by == "ana"


async def test_a_signed_decision_decides_one_request_only(
    kit_env: WorkflowEnvironment, kit_settings: Settings, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    """The same call proposed twice in a run has the same hash: the first signed approval must not
    approve the second request too."""
    ana_key, ana_pub = new_key_pair("ana", tmp_path / "keys")
    keys_file = tmp_path / "approvers.json"
    keys_file.write_text(json.dumps({"ana": ana_pub.read_text().strip()}))
    settings = with_policy(kit_settings, approver_keys_file=str(keys_file))
    call = {"name": "send_webhook", "input": {"url": f"{http_receiver.url}/twice", "payload": {"n": 1}}}
    model = ScriptedModel(
        [{"match": {"turn": turn}, "reply": {"tool_calls": [call]}} for turn in (0, 1)]
        + [{"reply": {"text": "done"}}]
    )
    async with run_kit_worker(kit_env.client, settings, model=model):
        handle = await start_agent(kit_env.client, settings.temporal_task_queue)
        first = await wait_for_approval(handle)
        decision = signed(ana_key, handle.id, first.action_hash)
        await handle.execute_update("approve", decision)
        second = await wait_for_approval(handle)
        assert second.action_hash == first.action_hash
        with pytest.raises(WorkflowUpdateFailedError) as reused:
            await handle.execute_update("approve", decision)
        assert "used already" in str(reused.value.cause)
        await handle.execute_update("approve", signed(ana_key, handle.id, second.action_hash))
        await handle.result()
    assert len(http_receiver.requests) == 2


def keys_settings(kit_settings: Settings, tmp_path: Path) -> tuple[Settings, Path]:
    ana_key, ana_pub = new_key_pair("ana", tmp_path / "keys")
    keys_file = tmp_path / "approvers.json"
    keys_file.write_text(json.dumps({"ana": ana_pub.read_text().strip()}))
    return with_policy(kit_settings, approver_keys_file=str(keys_file)), ana_key


async def test_with_keys_a_deadline_never_approves(
    kit_env: WorkflowEnvironment, kit_settings: Settings, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    settings, _ = keys_settings(kit_settings, tmp_path)
    async with run_kit_worker(kit_env.client, settings, model=webhook_calls(f"{http_receiver.url}/late")):
        handle = await start_agent(
            kit_env.client, settings.temporal_task_queue, approval_policy="approve", approval_timeout_s=60
        )
        result = await handle.result()  # the test server skips the minute
    [decision] = result.decisions
    assert (decision.approver, decision.approved, decision.by_policy) == ("policy", False, True)
    assert "only a rule approves without a person" in decision.comment
    assert http_receiver.requests == []


async def test_with_keys_an_unsigned_signal_is_recorded_as_refused_and_changes_nothing(
    kit_env: WorkflowEnvironment, kit_settings: Settings, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    settings, ana_key = keys_settings(kit_settings, tmp_path)
    async with run_kit_worker(kit_env.client, settings, model=webhook_calls(f"{http_receiver.url}/signal")):
        handle = await start_agent(kit_env.client, settings.temporal_task_queue)
        pending = await wait_for_approval(handle)
        await handle.signal("approve", ApprovalDecision(approver="ana", approved=True))
        status = await handle.query("status", result_type=WorkflowStatus)
        while not any(step.step == "approve signal refused" for step in status.completed_steps):
            status = await handle.query("status", result_type=WorkflowStatus)
        [refused] = [step for step in status.completed_steps if step.step == "approve signal refused"]
        assert not refused.ok and "unsigned decision" in refused.detail
        assert status.pending_approval is not None and status.decisions == [] and http_receiver.requests == []
        await handle.signal("approve", signed(ana_key, handle.id, pending.action_hash))
        result = await handle.result()
    assert [d.via for d in result.decisions] == ["signal"] and len(http_receiver.requests) == 1
