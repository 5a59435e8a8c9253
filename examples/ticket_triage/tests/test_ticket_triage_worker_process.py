"""The example as a user runs it: a real `python -m worker` process on the dev server picks the
workflow and its tools up through the entry point, and runs are driven with the `temporal` CLI and
with `python -m starter`. An approved reply is in the outbox exactly once; a rejected one never."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from triage_support import outbox_messages

from workflows.kit import WorkflowStatus
from workflows.kit.pytest_plugin import wait_for_approval

TEMPORAL = Path(sys.executable).parent / "temporal"
# Variables of the developer's shell that would change what the worker or the starter does.
FOREIGN = ("LLM_", "ANTHROPIC_", "OPENAI_", "PAYLOAD_", "TEMPORAL_", "DEDUPE_", "TICKET_TRIAGE_", "WORKER_")
TICKET = "Billing: I was charged twice for order 1234. Please refund one charge."


@dataclass
class WorkerProcess:
    process: subprocess.Popen[str]
    log: list[str]
    env: dict[str, str]  # for the CLIs: the same server and task queue
    address: str
    task_queue: str
    outbox: Path


@pytest.fixture(scope="module")
def triage_worker(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """One worker process for this module's runs, in a folder of its own (its `.state` lands there)."""
    home = tmp_path_factory.mktemp("triage-worker")
    address = dev_server_env.client.service_client.config.target_host
    task_queue = f"triage-{uuid.uuid4().hex[:12]}"
    env = {name: value for name, value in os.environ.items() if not name.startswith(FOREIGN)}
    env |= {"TEMPORAL_ADDRESS": address, "TEMPORAL_TASK_QUEUE": task_queue, "LLM_PROVIDER": "offline"}
    worker_env = env | {"TICKET_TRIAGE_OUTBOX_DIR": str(home / "outbox"), "WORKER_GRACEFUL_SHUTDOWN_S": "5"}
    process = subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=home,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    running = threading.Event()

    def read_log() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            if "worker running" in line:
                running.set()
        running.set()  # exited: the assertion below shows why

    threading.Thread(target=read_log, daemon=True).start()
    try:
        assert running.wait(120) and process.poll() is None, "".join(log)
        yield WorkerProcess(process, log, env, address, task_queue, home / "outbox")
    finally:
        process.terminate()
        process.wait(30)


async def temporal(worker: WorkerProcess, *args: str) -> str:
    """`temporal ARGS --address ...`; its stdout, or the test fails with its stderr."""
    process = await asyncio.create_subprocess_exec(
        str(TEMPORAL),
        *args,
        "--address",
        worker.address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, (args, stderr.decode())
    return stdout.decode()


async def starter_process(worker: WorkerProcess, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter",
        *args,
        env=worker.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def triage_input(**extra: Any) -> str:
    return json.dumps({"ticket": TICKET, "customer_email": "ana@example.com", "approvers": ["ana"], **extra})


async def cli_pending_status(worker: WorkerProcess, workflow_id: str) -> dict[str, Any]:
    """`temporal workflow query --type status` until the run waits for a decision."""
    while True:
        shown = json.loads(
            await temporal(worker, "workflow", "query", "--type", "status", "-w", workflow_id, "-o", "json")
        )
        status: dict[str, Any] = shown["queryResult"][0]
        if status["pending_approval"] is not None:
            return status
        assert status["outcome"] is None, status
        await asyncio.sleep(0.1)  # a poll interval: the run moves on its own


def test_the_worker_registers_the_example_through_its_entry_point(triage_worker: WorkerProcess) -> None:
    registered = {
        kind: line.split(f"registered {kind}: ", 1)[1].strip().split(", ")
        for line in triage_worker.log
        for kind in ("workflows", "activities")
        if f"registered {kind}: " in line
    }
    assert "TicketTriageWorkflow" in registered["workflows"]
    assert {"tool.lookup_customer", "tool.send_reply"} <= set(registered["activities"])


async def cli_start(triage_worker: WorkerProcess, workflow_id: str) -> None:
    """`temporal workflow start` of a TicketTriageWorkflow on the worker's task queue."""
    await temporal(
        triage_worker,
        "workflow",
        "start",
        "--type",
        "TicketTriageWorkflow",
        "--task-queue",
        triage_worker.task_queue,
        "--workflow-id",
        workflow_id,
        "--input",
        triage_input(),
    )


async def cli_decide(worker: WorkerProcess, workflow_id: str, decision: dict[str, Any]) -> str:
    """The `approve` Update through `temporal workflow update execute`; its JSON output."""
    return await temporal(
        worker,
        "workflow",
        "update",
        "execute",
        "--name",
        "approve",
        "-w",
        workflow_id,
        "--input",
        json.dumps(decision),
        "-o",
        "json",
    )


async def test_temporal_cli_approve_then_result_sends_once(triage_worker: WorkerProcess) -> None:
    workflow_id = f"triage-cli-{uuid.uuid4().hex[:8]}"
    await cli_start(triage_worker, workflow_id)
    status = await cli_pending_status(triage_worker, workflow_id)
    pending = status["pending_approval"]
    assert pending["proposed"]["title"] == "send_reply to ana@example.com"
    assert pending["action"].splitlines()[1] == "  → to: ana@example.com"  # the recipient first
    decided = await cli_decide(
        triage_worker,
        workflow_id,
        {"approver": "ana", "approved": True, "action_hash": pending["action_hash"]},
    )
    assert '"approved": true' in decided
    shown = await temporal(triage_worker, "workflow", "result", "-w", workflow_id, "-o", "json")
    result = json.loads(shown)["result"]

    assert result["outcome"] == "sent" and result["classification"] == "billing"
    assert [step["step"] for step in result["steps"]] == [
        "classify",
        "tool 1 lookup_customer",
        "draft reply",
        "approval 1",
        "tool 2 send_reply",
    ]
    assert result["usage"]["input_tokens"] > 0 and "cost_usd" in result
    (message,) = outbox_messages(triage_worker.outbox, workflow_id)
    assert message["body"] == result["reply"] and message["to"] == "ana@example.com"
    assert result["reply"] in pending["action"]  # the reviewer saw the whole reply


async def test_temporal_cli_reject_sends_nothing(triage_worker: WorkerProcess, dev_client: Client) -> None:
    workflow_id = f"triage-reject-{uuid.uuid4().hex[:8]}"
    await cli_start(triage_worker, workflow_id)
    await cli_pending_status(triage_worker, workflow_id)
    await cli_decide(
        triage_worker, workflow_id, {"approver": "ana", "approved": False, "comment": "wrong order number"}
    )
    result = json.loads(await temporal(triage_worker, "workflow", "result", "-w", workflow_id, "-o", "json"))
    assert result["result"]["outcome"] == "rejected"
    assert result["result"]["sent"] == "rejected by ana: wrong order number"
    status = await dev_client.get_workflow_handle(workflow_id).query("status", result_type=WorkflowStatus)
    assert status.outcome == "rejected" and status.pending_approval is None
    assert outbox_messages(triage_worker.outbox, workflow_id) == []


async def test_starter_start_wait_with_an_approval(triage_worker: WorkerProcess, dev_client: Client) -> None:
    workflow_id = f"triage-starter-{uuid.uuid4().hex[:8]}"
    run = await starter_process(
        triage_worker,
        "start",
        "TicketTriageWorkflow",
        "--input",
        triage_input(),
        "--id",
        workflow_id,
        "--wait",
    )
    assert run.stdout is not None
    started = (await asyncio.wait_for(run.stdout.readline(), 120)).decode()
    assert started == f"started {workflow_id}\n", started + (await finished(run))[2]
    pending = await wait_for_approval(dev_client.get_workflow_handle(workflow_id))
    code, _, err = await finished(
        await starter_process(
            triage_worker, "approve", workflow_id, "--as", "ana", "--hash", pending.action_hash
        )
    )
    assert code == 0, err
    code, out, err = await finished(run)
    assert code == 0, err
    assert "run ended: completed" in out and '"outcome": "sent"' in out

    (message,) = outbox_messages(triage_worker.outbox, workflow_id)
    assert f'"reply": {json.dumps(message["body"])}' in out  # the printed result has the reply sent


def test_a_bad_input_is_one_line_from_the_starter(triage_worker: WorkerProcess) -> None:
    """The starter knows the example's input model through the entry point and checks it first."""
    run = subprocess.run(
        [sys.executable, "-m", "starter", "start", "TicketTriageWorkflow", "--input", '{"ticket": "x"}'],
        env=triage_worker.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("error: invalid "), run.stderr
