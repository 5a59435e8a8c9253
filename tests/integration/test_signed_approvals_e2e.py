"""Signed approvals and approval rules through real processes (issue 25): one `python -m worker` on the
dev server with `APPROVER_KEYS_FILE` (ana, bo) and `APPROVAL_RULES_FILE`, its model scripted
(`LLM_PROVIDER=scripted`), decisions sent by the `temporal` CLI and by `python -m starter`, effects
counted at a real webhook receiver. The rules file covers every case; the URL path picks the rule:
`/allowed/` is approved by a rule, `/denied/` denied, `/pay/` needs two approvers, anything else one.

What only real processes show: an unsigned Update from the `temporal` CLI is refused by the worker's
validator and the effect never happens; a signature made for one run is refused by another (and the
same payload goes through on its own run); the starter signs with a key file and the run records the
signer. The time-skipping tests (tests/workflow/test_approval_rules.py) cover the rules' details."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from common.approval_signing import new_key_pair
from common.devserver import temporal_binary
from starter import api
from starter.keys import sign
from tests.chaos.processes import WorkerProcess, clean_environment
from tests.fakes.receivers import HttpReceiver
from tests.starter.cli import CliRun, cli_env, run_cli
from tests.starter.runs import pending_approval
from workflows.models import AgentInput, AgentResult, ApprovalDecision, ResearchInput, ResearchResult

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]
UNSIGNED = "unsigned decision: this deployment requires signed approvals (APPROVER_KEYS_FILE)"
REFUSED = "Error: unable to update workflow: "  # how the `temporal` CLI reports a refused Update
NOT_VERIFIED = "the signature does not verify (another run, another action, or not this approver's key)"


@dataclass
class Deployment:
    client: Client
    address: str
    task_queue: str
    keys: Path  # ana.key, bo.key
    receiver: HttpReceiver
    starter_env: dict[str, str]

    def url(self, path: str) -> str:
        return f"{self.receiver.url}{path}"

    def arrived(self, path: str) -> int:
        return sum(request.path == path for request in self.receiver.requests)

    async def temporal(self, *args: str) -> CliRun:
        process = await asyncio.create_subprocess_exec(
            temporal_binary(),
            "workflow",
            *args,
            "--address",
            self.address,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return CliRun(process.returncode, stdout.decode(), stderr.decode())

    async def starter(self, *args: str) -> CliRun:
        return await run_cli(*args, env=self.starter_env)

    async def start_agent(self, case: str) -> WorkflowHandle[Any, AgentResult]:
        params = AgentInput(goal=f"CASE {case}", tools=["send_webhook"], approvers=["ana", "bo"])
        return await api.start_agent(
            self.client,
            params,
            task_queue=self.task_queue,
            workflow_id=f"agent-{case}-{uuid.uuid4().hex[:8]}",
        )

    async def start_research(self, target: str) -> WorkflowHandle[Any, ResearchResult]:
        params = ResearchInput(topic="tide pools", max_subtopics=1, approvers=["ana"], deliver_to=target)
        return await api.start_research(self.client, params, task_queue=self.task_queue)


def webhook(url: str) -> dict[str, Any]:
    return {"name": "send_webhook", "input": {"url": url, "payload": {"to": url}}}


def rules(base: str) -> list[dict[str, Any]]:
    def on(path: str) -> dict[str, Any]:
        return {"tool": "send_webhook", "when": {"url": {"startswith": f"{base}{path}"}}}

    return [
        {"name": "allowed hooks", **on("/allowed/"), "decision": "approve"},
        {"name": "no hooks here", **on("/denied/"), "decision": "deny"},
        {"name": "payments", **on("/pay/"), "decision": "require", "approvers": 2},
    ]


def script(base: str) -> list[dict[str, Any]]:
    """An agent's first turn by its goal (`CASE ...`); every other request (the research steps, an
    agent's later turns) gets a fixed text, so two research runs with one target propose the same
    action."""

    def first_turn(case: str, *urls: str) -> dict[str, Any]:
        return {
            "name": case,
            "match": {"step_kind": "agent", "turn": 0, "contains": f"CASE {case}"},
            "reply": {"tool_calls": [webhook(f"{base}{url}") for url in urls]},
        }

    return [
        first_turn("rule-approves", "/allowed/1", "/other/1"),
        first_turn("deny", "/denied/1"),
        first_turn("two-person", "/pay/1"),
        {"name": "everything else", "reply": {"text": "done"}},
    ]


@pytest_asyncio.fixture(scope="module")
async def deployment(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    folder = tmp_path_factory.mktemp("signed-approvals")
    keys = folder / "keys"
    public = {name: new_key_pair(name, keys)[1].read_text().strip() for name in ("ana", "bo")}
    (folder / "approvers.json").write_text(json.dumps(public))
    receiver = HttpReceiver().start()
    (folder / "rules.json").write_text(json.dumps(rules(receiver.url)))
    (folder / "script.json").write_text(json.dumps(script(receiver.url)))
    address = dev_server_env.client.service_client.config.target_host
    task_queue = f"signed-{uuid.uuid4().hex[:12]}"
    worker = WorkerProcess(
        clean_environment(
            {
                "TEMPORAL_ADDRESS": address,
                "TEMPORAL_TASK_QUEUE": task_queue,
                "LLM_PROVIDER": "scripted",
                "LLM_SCRIPT_FILE": str(folder / "script.json"),
                "APPROVER_KEYS_FILE": str(folder / "approvers.json"),
                "APPROVAL_RULES_FILE": str(folder / "rules.json"),
                "EGRESS_ALLOW_PRIVATE": "127.0.0.1",  # the receiver listens on loopback
                "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                "WORKER_LEASE_DIR": str(folder / "workers"),
                "DEDUPE_LEDGER_PATH": str(folder / "ledger.sqlite3"),
                "INDEX_PATH": str(folder / "index.sqlite3"),
                "RUN_STATE_KEY_FILE": str(folder / "run-state.key"),
                "PAYLOAD_STORE_DIR": str(folder / "payloads"),
            }
        ),
        REPO,
    )
    try:
        await worker.wait_ready()
        starter_env = {**cli_env(address, task_queue), "PAYLOAD_STORE_DIR": str(folder / "payloads")}
        yield Deployment(dev_server_env.client, address, task_queue, keys, receiver, starter_env)
    finally:
        await worker.stop()
        receiver.stop()
    # With keys configured the worker does not warn that decisions are unauthenticated.
    assert not any("not authenticated" in line for line in worker.lines), worker.lines[-20:]


def query_result(output: str) -> Any:
    match = re.search(r"^\s*QueryResult\s+(\{.*\})\s*$", output, re.MULTILINE)
    assert match, output
    return json.loads(match.group(1))


async def ended_or_terminated(*handles: WorkflowHandle[Any, Any]) -> None:
    """Terminate what a test left waiting, so nothing of it stays on the shared worker."""
    for handle in handles:
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("the test ended before the run did")


async def test_an_unsigned_update_is_refused_and_the_signed_starter_approve_delivers_once(
    deployment: Deployment,
) -> None:
    handle = await deployment.start_research(deployment.url("/research/unsigned"))
    try:
        await pending_approval(deployment.client, handle.id)
        unsigned = await deployment.temporal(
            "update",
            "execute",
            "--workflow-id",
            handle.id,
            "--name",
            "approve",
            "--input",
            json.dumps({"approver": "ana", "approved": True}),
        )
        assert unsigned.returncode != 0
        assert unsigned.stderr == f"{REFUSED}{UNSIGNED} (type: DecisionNotSigned, retryable: false)\n"
        # Refused before anything was recorded: still waiting, nothing decided, nothing delivered.
        status = await api.get_status(deployment.client, handle.id)
        assert status.pending_approval is not None and status.decisions == []
        assert status.decisions_authenticated
        assert deployment.arrived("/research/unsigned") == 0

        signed = await deployment.starter(
            "approve", handle.id, "--as", "ana", "--key", str(deployment.keys / "ana.key")
        )
        assert signed.returncode == 0, signed.stderr
        assert signed.stdout.startswith(f"{handle.id}: approved by ana at ")
        result = await handle.result()
    finally:
        await ended_or_terminated(handle)
    assert result.outcome == "completed" and result.approval is not None
    assert (result.approval.approver, result.approval.signed_by, result.approval.via) == (
        "ana",
        "ana",
        "update",
    )
    assert result.delivery is not None and not result.delivery.duplicate
    assert deployment.arrived("/research/unsigned") == 1


async def test_a_signature_for_one_run_is_refused_by_another(deployment: Deployment) -> None:
    target = deployment.url("/research/replayed")
    first, second = await deployment.start_research(target), await deployment.start_research(target)
    try:
        pending = [await pending_approval(deployment.client, handle.id) for handle in (first, second)]
        # Same topic, same report, same target: the very same action, so only the run tells them apart.
        assert pending[0].action_hash == pending[1].action_hash
        # The Update payload `starter approve ID --as ana --key ana.key` sends to the first run.
        decision = sign(
            ApprovalDecision(approver="ana", approved=True, action_hash=pending[0].action_hash),
            deployment.keys / "ana.key",
            workflow_id=first.id,
        )

        async def send(workflow_id: str) -> CliRun:
            return await deployment.temporal(
                "update",
                "execute",
                "--workflow-id",
                workflow_id,
                "--name",
                "approve",
                "--input",
                decision.model_dump_json(),
            )

        replayed = await send(second.id)
        assert replayed.returncode != 0
        assert replayed.stderr == f"{REFUSED}{NOT_VERIFIED} (type: DecisionNotSigned, retryable: false)\n"
        still = await api.get_status(deployment.client, second.id)
        assert still.pending_approval is not None and still.decisions == []

        own = await send(first.id)  # the same bytes on the run they were signed for
        assert own.returncode == 0, own.stderr
        result = await first.result()
        assert result.approval is not None and result.approval.signature == decision.signature
        assert deployment.arrived("/research/replayed") == 1  # the first run's delivery, once
    finally:
        await ended_or_terminated(first, second)
    assert deployment.arrived("/research/replayed") == 1  # the second run never delivered


async def test_a_rule_approves_an_allowed_url_and_the_same_tool_to_another_url_waits(
    deployment: Deployment,
) -> None:
    handle = await deployment.start_agent("rule-approves")
    try:
        await pending_approval(deployment.client, handle.id)
        assert await deployment.receiver.wait_until_async(lambda: deployment.arrived("/allowed/1") == 1)
        queried = await deployment.temporal("query", "--workflow-id", handle.id, "--type", "status")
        assert queried.returncode == 0, queried.stderr
        status = query_result(queried.stdout)
        waiting = status["pending_approval"]["action"]
        assert deployment.url("/other/1") in waiting and "/allowed/" not in waiting
        [by_rule] = status["decisions"]
        assert (by_rule["via"], by_rule["by_rule"], by_rule["approved"]) == ("rule", "allowed hooks", True)
        assert deployment.arrived("/other/1") == 0

        approved = await deployment.starter(
            "approve", handle.id, "--as", "ana", "--key", str(deployment.keys / "ana.key")
        )
        assert approved.returncode == 0, approved.stderr
        result = await handle.result()
    finally:
        await ended_or_terminated(handle)
    assert [(d.via, d.approver, d.signed_by) for d in result.decisions] == [
        ("rule", "rule allowed hooks", None),
        ("update", "ana", "ana"),
    ]
    assert (deployment.arrived("/allowed/1"), deployment.arrived("/other/1")) == (1, 1)


async def test_a_deny_rule_refuses_the_call_and_nothing_is_sent(deployment: Deployment) -> None:
    handle = await deployment.start_agent("deny")
    try:
        result = await handle.result()
    finally:
        await ended_or_terminated(handle)
    assert result.outcome == "completed" and result.decisions == []
    [refused] = [step for step in result.steps if step.kind == "tool"]
    assert not refused.ok
    assert refused.detail == "send_webhook is refused by approval rule 'no hooks here'; it will not run"
    assert deployment.arrived("/denied/1") == 0


async def test_a_two_person_rule_needs_two_different_signed_approvers(deployment: Deployment) -> None:
    handle = await deployment.start_agent("two-person")

    async def approve(name: str) -> CliRun:
        return await deployment.starter(
            "approve", handle.id, "--as", name, "--key", str(deployment.keys / f"{name}.key")
        )

    try:
        first = await pending_approval(deployment.client, handle.id)
        assert first.approvals_needed == 2
        ana = await approve("ana")
        assert ana.returncode == 0, ana.stderr
        waiting = (await api.get_status(deployment.client, handle.id)).pending_approval
        assert waiting is not None and waiting.approved_by == ["ana"]
        assert deployment.arrived("/pay/1") == 0  # one approval of two: nothing ran

        again = await approve("ana")
        assert again.returncode == 1
        assert again.stderr == (
            f"error: {handle.id}: decision refused: ana approved already; 2 different approvers must "
            "approve this action\n"
        )
        bo = await approve("bo")
        assert bo.returncode == 0, bo.stderr
        result = await handle.result()
    finally:
        await ended_or_terminated(handle)
    assert [(d.approver, d.signed_by, d.approved) for d in result.decisions] == [
        ("ana", "ana", True),
        ("bo", "bo", True),
    ]
    assert deployment.arrived("/pay/1") == 1


async def test_a_run_cannot_give_itself_auto_approval(deployment: Deployment) -> None:
    workflow_id = f"agent-loose-{uuid.uuid4().hex[:8]}"
    loose = {
        "goal": "CASE loose",
        "tools": ["send_webhook"],
        "approvers": ["ana"],
        "approval_rules": [{"tool": "*", "decision": "approve"}],
    }
    started = await deployment.temporal(
        "start",
        "--type",
        "AgentWorkflow",
        "--task-queue",
        deployment.task_queue,
        "--workflow-id",
        workflow_id,
        "--input",
        json.dumps(loose),
    )
    assert started.returncode == 0, started.stderr
    with pytest.raises(WorkflowFailureError) as failed:
        await deployment.client.get_workflow_handle(workflow_id).result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert cause.message == (
        "invalid AgentInput: input: approval_rules in a run's input may only require or deny; "
        "auto-approval is the operator's (APPROVAL_RULES_FILE)"
    )


def test_a_keys_file_the_worker_cannot_use_stops_it_at_start_in_one_line(tmp_path: Path) -> None:
    keys = tmp_path / "approvers.json"
    keys.write_text(json.dumps({"ana": "ed25519:not-a-key"}))
    env = clean_environment(
        {
            "APPROVER_KEYS_FILE": str(keys),
            "TEMPORAL_ADDRESS": "127.0.0.1:1",  # never reached: the keys are checked first
            "WORKER_LEASE_DIR": str(tmp_path / "workers"),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.endswith(
        f"ERROR worker: {keys}: entry 'ana': not an Ed25519 public key line (ed25519:BASE64 of 32 bytes)"
    ), done.stderr
