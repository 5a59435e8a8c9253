"""`python -m starter` as a user runs it: a subprocess against the dev server, with a worker."""

from __future__ import annotations

import uuid

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from common.settings import Settings
from starter import api, render
from tests.starter.cli import cli_env, run_cli
from tests.starter.runs import pending_approval
from worker.app import build_worker
from workflows.models import ResearchInput


async def test_research_wait_then_status(
    dev_server_env: WorkflowEnvironment, dev_client: Client, settings: Settings, task_queue: str
) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    workflow_id = f"cli-research-{uuid.uuid4().hex[:8]}"
    async with build_worker(dev_client, settings):
        run = await run_cli(
            "research", "salt marshes", "--max-subtopics", "2", "--id", workflow_id, "--wait", env=env
        )
        assert run.returncode == 0, run.stderr
        status = await api.get_status(dev_client, workflow_id)
        shown = await run_cli("status", workflow_id, env=env)

    lines = run.stdout.splitlines()
    assert lines[0] == f"started {workflow_id}"
    for step in status.completed_steps:  # each step printed once as it finished
        assert sum(line.startswith(f"  done: {step.step} [") for line in lines) == 1
    assert "run ended: completed" in lines
    assert "# salt marshes" in lines and "[offline model]" in run.stdout
    assert f"cost: {render.money(status.cost_usd)}" in run.stdout

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].startswith(f"{workflow_id}  phase: completed")
    assert f"total ({len(status.completed_steps)} steps)" in shown.stdout
    assert shown.stdout.rstrip().endswith(render.money(status.cost_usd))


async def test_errors_are_one_line_and_exit_nonzero(dev_client: Client, task_queue: str) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    cases = [
        (("status", missing), f"error: no workflow with id '{missing}'"),
        (("approve", missing, "--as", "ana"), f"error: no workflow with id '{missing}'"),
        (
            ("research", "x", "--max-subtopics", "0"),
            "error: invalid max-subtopics: Input should be greater than or equal to 1",
        ),
    ]
    for args, expected in cases:
        run = await run_cli(*args, env=env)
        assert run.returncode == 1, (args, run.stdout, run.stderr)
        assert run.stderr.startswith(expected) and run.stderr.count("\n") == 1, run.stderr


async def test_agent_wait(dev_client: Client, settings: Settings, task_queue: str) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    async with build_worker(dev_client, settings):
        run = await run_cli(
            "agent", "What is 17 * 23?", "--tools", "calculator", "--max-iterations", "3", "--wait", env=env
        )
    assert run.returncode == 0, run.stderr
    assert "  done: tool 1.1 calculator [tool]" in run.stdout
    assert str(17 * 23) in run.stdout.split("run ended: completed", 1)[1]
    assert "outcome: completed  iterations: 2" in run.stdout


async def test_approve_prints_the_decision_or_the_refusal(
    dev_client: Client, settings: Settings, task_queue: str
) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    async with build_worker(dev_client, settings):
        handle = await api.start_research(
            dev_client, ResearchInput(topic="moss", max_subtopics=1, approvers=["ana"]), task_queue=task_queue
        )
        await pending_approval(dev_client, handle.id)
        refused = await run_cli("approve", handle.id, "--as", "mallory", env=env)
        approved = await run_cli("approve", handle.id, "--as", "ana", "--comment", "fine by me", env=env)
        result = await handle.result()
    assert refused.returncode == 1
    assert (
        refused.stderr == f"error: {handle.id}: decision refused: 'mallory' is not an approver of this run\n"
    )
    assert approved.returncode == 0, approved.stderr
    assert result.approval is not None
    assert approved.stdout == f"{render.decision_line(handle.id, result.approval, approved=True)}\n"
    assert approved.stdout.startswith(f"{handle.id}: approved by ana at ") and approved.stdout.endswith(
        "via update: fine by me\n"
    )
