"""`python -m starter fork` against a real `python -m worker` (the scripted model) on the suite's
dev server: a fork with --model reuses the steps before N and runs the rest with that model; a fork
against workflow code that no longer makes the source's history before N refuses in one line and
starts nothing (a change after N does not stop it); an unknown run, a step beyond the source's steps
and a malformed patch are one line each, exit 1."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from common.search_attributes import FORK_OF
from tests.chaos.processes import WorkerProcess, clean_environment
from tests.integration.test_scripted_worker import state_in
from tests.starter.cli import CliRun, cli_env, run_cli
from workflows.models import WorkflowStatus

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = [
    {
        "match": {"step_kind": "agent", "turn": 0},
        "reply": {"tool_calls": [{"name": "calculator", "input": {"expression": "17 * 23"}}]},
    },
    {
        "match": {"step_kind": "agent", "turn": 1},
        "reply": {"tool_calls": [{"name": "calculator", "input": {"expression": "391 + 9"}}]},
    },
    {"match": {"step_kind": "agent", "turn": 2}, "reply": {"text": "17 * 23 + 9 = 400"}},
    {"match": {"step_kind": "probe"}, "reply": {"text": "probed"}},
]


@pytest_asyncio.fixture
async def fork_worker(
    dev_server_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[dict[str, str]]:
    """A scripted `python -m worker` with the probe workflow; the starter's environment for it."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    address = dev_server_env.client.service_client.config.target_host
    worker = WorkerProcess(
        clean_environment(
            {
                "TEMPORAL_ADDRESS": address,
                "TEMPORAL_TASK_QUEUE": task_queue,
                "LLM_PROVIDER": "scripted",
                "LLM_SCRIPT_FILE": str(script),
                "WORKER_PLUGINS": "tests.fork.probe_workflows:SOURCE",
                "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                **state_in(tmp_path),
            }
        ),
        REPO,
    )
    try:
        await worker.wait_ready()
        yield {
            **cli_env(address, task_queue),
            "PAYLOAD_STORE_DIR": str(tmp_path / "payloads"),
            "WORKER_PLUGINS": "tests.fork.probe_workflows:SOURCE",
        }
    finally:
        await worker.stop()


def one_line(run: CliRun) -> str:
    assert run.returncode == 1, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


async def status_of(client: Client, workflow_id: str) -> WorkflowStatus:
    status: WorkflowStatus = await client.get_workflow_handle(workflow_id).query(
        "status", result_type=WorkflowStatus
    )
    return status


async def test_a_fork_with_another_model_reuses_the_steps_before_n(
    dev_server_env: WorkflowEnvironment, fork_worker: dict[str, str]
) -> None:
    client = dev_server_env.client
    source_id = f"fork-cli-source-{uuid.uuid4().hex[:8]}"
    ran = await run_cli(
        "agent", "What is 17 * 23 + 9?", "--tools", "calculator", "--id", source_id, "--wait", env=fork_worker
    )
    assert ran.returncode == 0, ran.stderr
    source = await status_of(client, source_id)
    assert [s.step for s in source.completed_steps] == [
        "llm step 1",
        "tool 1.1 calculator",
        "llm step 2",
        "tool 2.1 calculator",
        "llm step 3",
    ]

    fork_id = f"fork-cli-{uuid.uuid4().hex[:8]}"
    forked = await run_cli(
        "fork",
        source_id,
        "--from-step",
        "3",
        "--model",
        "scripted-b",
        "--id",
        fork_id,
        "--wait",
        env=fork_worker,
    )
    assert forked.returncode == 0, forked.stderr
    assert f"started {fork_id} (fork of {source_id}/" in forked.stdout
    assert "17 * 23 + 9 = 400" in forked.stdout

    status = await status_of(client, fork_id)
    steps = status.completed_steps
    assert [s.step for s in steps] == [s.step for s in source.completed_steps]
    assert [s.reused for s in steps] == [True, True, False, False, False]
    # The model answered steps 3 and 5 as the fork's model; the reused step 1 cost nothing.
    assert steps[0].model == source.completed_steps[0].model and steps[0].input_tokens == 0
    assert [s.model for s in steps if s.kind == "llm" and not s.reused] == ["scripted-b", "scripted-b"]
    assert status.cost_usd == pytest.approx(sum(s.cost_usd for s in steps[2:]))
    assert status.forked_from is not None and status.forked_from.step == 3

    description = await client.get_workflow_handle(fork_id).describe()
    assert description.typed_search_attributes.get(FORK_OF) == f"{source_id}/{status.forked_from.run_id}@3"
    assert (await description.memo_value("forked_from"))["workflow_id"] == source_id
    assert (await description.static_summary() or "").startswith(f"Fork of {source_id}/")

    shown = await run_cli("status", fork_id, env=fork_worker)
    assert f"forked from {source_id}/{status.forked_from.run_id} at step 3" in shown.stdout
    assert "llm step 1 (reused)" in shown.stdout


async def test_a_fork_against_changed_workflow_code_starts_nothing(
    dev_server_env: WorkflowEnvironment, fork_worker: dict[str, str]
) -> None:
    client = dev_server_env.client
    source_id = f"fork-probe-{uuid.uuid4().hex[:8]}"
    ran = await run_cli("start", "ForkProbeWorkflow", "--id", source_id, "--wait", env=fork_worker)
    assert ran.returncode == 0, ran.stderr

    fork_id = f"fork-refused-{uuid.uuid4().hex[:8]}"
    changed = {**fork_worker, "WORKER_PLUGINS": "tests.fork.probe_workflows:CHANGED"}
    refused = await run_cli("fork", source_id, "--from-step", "2", "--id", fork_id, env=changed)
    line = one_line(refused)
    assert line.startswith(
        "error: fork: the workflow code no longer matches the source's history before step 2"
    ), line
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(fork_id).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND

    # A change after the fork point leaves the steps before it as they were: the fork starts.
    late = {**fork_worker, "WORKER_PLUGINS": "tests.fork.probe_workflows:CHANGED_LATE"}
    started = await run_cli("fork", source_id, "--from-step", "2", "--id", fork_id, env=late)
    assert started.returncode == 0, started.stderr
    assert (await client.get_workflow_handle(fork_id).result()) == "probed"
    steps = (await status_of(client, fork_id)).completed_steps
    assert [(s.step, s.reused) for s in steps] == [("first", True), ("second", False)]


async def test_bad_forks_are_one_line_each(
    dev_server_env: WorkflowEnvironment, fork_worker: dict[str, str]
) -> None:
    source_id = f"fork-probe-{uuid.uuid4().hex[:8]}"
    ran = await run_cli("start", "ForkProbeWorkflow", "--id", source_id, "--wait", env=fork_worker)
    assert ran.returncode == 0, ran.stderr

    unknown = await run_cli("fork", "no-such-workflow", "--from-step", "2", env=fork_worker)
    assert one_line(unknown) == "error: no run no-such-workflow to fork"
    beyond = await run_cli("fork", source_id, "--from-step", "9", env=fork_worker)
    assert one_line(beyond) == "error: fork: step 9 is beyond the source's 2 steps"
    malformed = await run_cli(
        "fork", source_id, "--from-step", "2", "--input-patch", "{not json", env=fork_worker
    )
    assert one_line(malformed).startswith("error: --input-patch is not JSON: ")
    bad_value = await run_cli(
        "fork", source_id, "--from-step", "2", "--input-patch", '{"budget_usd": -1}', env=fork_worker
    )
    assert one_line(bad_value).startswith("error: the patched input: invalid budget_usd: ")
