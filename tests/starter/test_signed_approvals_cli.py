"""Signed decisions from the terminal (issue 25): `starter keys new` writes a key pair, and `starter
approve/reject --key` send a decision whose signature verifies with the approver's public key, over
this run, the pending action and what was decided; the worker, given the keys file, records the signer
and refuses an unsigned `approve`. Subprocesses against the dev server, with a worker."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from common.approval_signing import load_private_key, parse_keys_file, public_key_line, verify_decision
from common.settings import Settings
from starter import api
from tests.starter.cli import cli_env, run_cli
from tests.starter.runs import pending_approval
from worker.app import build_worker
from workflows.models import ApprovalDecision, ResearchInput


async def _make_keys(name: str, out: Path, env: dict[str, str]) -> Path:
    made = await run_cli("keys", "new", name, "--out", str(out), env=env)
    assert made.returncode == 0, made.stderr
    return out / f"{name}.key"


def _keys_file(tmp_path: Path, *names: str) -> Path:
    path = tmp_path / "approvers.json"
    path.write_text(json.dumps({name: (tmp_path / "keys" / f"{name}.pub").read_text() for name in names}))
    return path


async def _sent_decisions(client: Client, workflow_id: str) -> list[ApprovalDecision]:
    """The `approve` payloads the run accepted, Updates and Signals, as the run received them."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    payloads = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request.input
            if request.name == "approve":
                payloads.append(request.args.payloads[0])
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signal = event.workflow_execution_signaled_event_attributes
            if signal.signal_name == "approve":
                payloads.append(signal.input.payloads[0])
    return [(await client.data_converter.decode([p], [ApprovalDecision]))[0] for p in payloads]


def _verifies(keys_path: Path, workflow_id: str, action_hash: str, decision: ApprovalDecision) -> str | None:
    assert decision.expires_at is not None
    return verify_decision(
        parse_keys_file(keys_path),
        signed_by=decision.signed_by,
        signature=decision.signature,
        now=datetime.now(UTC),
        workflow_id=workflow_id,
        action_hash=action_hash,
        approver=decision.approver,
        approved=decision.approved,
        budget_usd=decision.budget_usd,
        for_run=decision.for_run,
        expires_at=decision.expires_at,
    )


async def test_keys_new_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    env = cli_env("127.0.0.1:1", "unused")  # no Temporal: keys are local files
    out = tmp_path / "keys"
    made = await run_cli("keys", "new", "ana", "--out", str(out), env=env)
    assert made.returncode == 0, made.stderr
    key_path, pub_path = out / "ana.key", out / "ana.pub"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    public_line = pub_path.read_text().strip()
    assert public_line == public_key_line(load_private_key(key_path))
    assert made.stdout.splitlines() == [
        f"private key: {key_path} (mode 0600; only ana should ever read it)",
        f"public key:  {pub_path}",
        f'add to APPROVER_KEYS_FILE: "ana": "{public_line}"',
    ]

    again = await run_cli("keys", "new", "ana", "--out", str(out), env=env)
    assert again.returncode == 1
    assert (
        again.stderr
        == f"error: {key_path}: already exists; keys are never overwritten (move it away first)\n"
    )
    assert pub_path.read_text().strip() == public_line  # the pair is untouched


async def test_approve_with_a_key_sends_a_signed_decision(
    dev_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    key = await _make_keys("ana", tmp_path / "keys", env)
    keys_path = _keys_file(tmp_path, "ana")
    signed_settings = settings.model_copy(update={"approver_keys_file": str(keys_path)})
    async with build_worker(dev_client, signed_settings):
        handle = await api.start_research(
            dev_client,
            ResearchInput(topic="lichen", max_subtopics=1, approvers=["ana"]),
            task_queue=task_queue,
        )
        pending = await pending_approval(dev_client, handle.id)

        unsigned = await run_cli("approve", handle.id, "--as", "ana", env=env)
        key.chmod(0o644)  # a private key others can read is refused before anything is sent
        exposed = await run_cli("approve", handle.id, "--as", "ana", "--key", str(key), env=env)
        key.chmod(0o600)
        sent_at = datetime.now(UTC)
        approved = await run_cli(
            "approve",
            handle.id,
            "--as",
            "ana",
            "--key",
            str(key),
            "--for-run",
            "--comment",
            "signed",
            env=env,
        )
        result = await handle.result()
        late = await run_cli("approve", handle.id, "--as", "ana", "--key", str(key), env=env)

    assert unsigned.returncode == 1
    assert unsigned.stderr == (
        f"error: {handle.id}: decision refused: unsigned decision: this deployment requires signed approvals "
        "(APPROVER_KEYS_FILE)\n"
    )
    assert exposed.returncode == 1 and exposed.stderr.count("\n") == 1
    assert exposed.stderr.startswith(f"error: {key}: open to group or others (mode 0644)")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"{handle.id}: approved by ana at ")
    assert result.outcome == "completed" and result.approval is not None
    # The run verified the signature against the keys file its worker read, and recorded the signer.
    assert (result.approval.approver, result.approval.comment) == ("ana", "signed")
    assert (result.approval.signed_by, result.approval.for_run) == ("ana", True)

    [decision] = await _sent_decisions(dev_client, handle.id)  # the refused ones left no trace
    assert (decision.signed_by, decision.for_run, decision.action_hash) == ("ana", True, pending.action_hash)
    assert decision.expires_at is not None
    assert (
        sent_at + timedelta(seconds=590) <= decision.expires_at <= datetime.now(UTC) + timedelta(seconds=600)
    )
    assert _verifies(keys_path, handle.id, pending.action_hash, decision) is None
    # The same signature over another run or another action does not verify.
    assert _verifies(keys_path, "research-other", pending.action_hash, decision) is not None
    assert _verifies(keys_path, handle.id, "0" * 64, decision) is not None

    # Nothing waits any more: there is no action to sign for.
    assert late.returncode == 1
    assert (
        late.stderr == f"error: {handle.id}: nothing is waiting for a decision, so there is nothing to sign\n"
    )


async def test_reject_by_signal_with_a_key_and_another_signer(
    dev_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    key = await _make_keys("desk", tmp_path / "keys", env)
    keys_path = tmp_path / "approvers.json"
    keys_path.write_text(
        json.dumps(
            {"desk": {"key": (tmp_path / "keys" / "desk.pub").read_text().strip(), "signs_for": ["bo"]}}
        )
    )
    async with build_worker(dev_client, settings.model_copy(update={"approver_keys_file": str(keys_path)})):
        handle = await api.start_research(
            dev_client,
            ResearchInput(topic="tundra", max_subtopics=1, approvers=["bo"]),
            task_queue=task_queue,
        )
        pending = await pending_approval(dev_client, handle.id)
        rejected = await run_cli(
            "reject",
            handle.id,
            "--as",
            "bo",
            "--key",
            str(key),
            "--signed-by",
            "desk",
            "--expires-in",
            "60",
            "--signal",
            env=env,
        )
        result = await handle.result()

    assert rejected.returncode == 0, rejected.stderr
    assert result.outcome == "rejected" and result.approval is not None
    assert (result.approval.approver, result.approval.signed_by, result.approval.via) == (
        "bo",
        "desk",
        "signal",
    )
    [decision] = await _sent_decisions(dev_client, handle.id)
    assert (decision.approver, decision.signed_by, decision.approved) == ("bo", "desk", False)
    assert decision.expires_at is not None and decision.expires_at <= datetime.now(UTC) + timedelta(
        seconds=60
    )
    assert _verifies(keys_path, handle.id, pending.action_hash, decision) is None
