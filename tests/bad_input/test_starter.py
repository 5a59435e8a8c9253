"""Bad input through the starter: `python -m starter ...` prints one line on stderr and exits non-zero
before anything starts; the importable functions raise `StarterError` with that line."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from starter import api
from tests.starter.cli import cli_env, run_cli
from workflows.models import AgentInput, ResearchInput

# (row of the docs table, arguments, exit status, start of the one line on stderr)
CLI_ROWS = [
    ("empty topic", ("research", ""), 1, "error: invalid topic: String should have at least 1 character"),
    ("empty goal", ("agent", "  "), 1, "error: invalid goal: must not be blank"),
    (
        "wrong type",
        ("research", "tides", "--max-subtopics", "many"),
        2,
        "error: argument --max-subtopics: invalid int value: 'many'",
    ),
    (
        "unknown tool",
        ("agent", "tides", "--tools", "teleport"),
        1,
        "error: invalid input: unknown tools ['teleport']",
    ),
    (
        "input over the limits",
        ("research", "t" * 100_000),
        1,
        "error: invalid topic: String should have at most 2000 characters",
    ),
    (
        "invalid deliver_to",
        ("research", "tides", "--deliver-to", "ftp://example.com/x"),
        1,
        "error: invalid input: deliver_to 'ftp://example.com/x' is not supported",
    ),
    (
        "side-effect tool without approvers",
        ("agent", "tides", "--tools", "send_email"),
        1,
        "error: invalid input: tools ['send_email'] need approval",
    ),
    (
        "negative budget",
        ("research", "tides", "--budget", "-1"),
        1,
        "error: invalid budget-usd: Input should be greater than or equal to 0",
    ),
]


async def test_each_bad_command_line_is_one_line_and_a_nonzero_exit(
    dev_client: Client, task_queue: str
) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    runs = await asyncio.gather(*(run_cli(*args, env=env) for _, args, _, _ in CLI_ROWS))
    for (row, _, status, expected), run in zip(CLI_ROWS, runs, strict=True):
        assert run.returncode == status, (row, run.stderr)
        assert run.stderr.startswith(expected) and run.stderr.count("\n") == 1, (row, run.stderr)
        assert run.stdout == "", row  # nothing was started
    # None of them reached Temporal: no run exists on this task queue.
    started = [w async for w in dev_client.list_workflows(f"TaskQueue = '{task_queue}'")]
    assert started == []


async def test_a_duplicate_workflow_id_is_one_line(dev_client: Client, task_queue: str) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    workflow_id = f"duplicate-{uuid.uuid4().hex[:8]}"
    first = await run_cli("research", "tides", "--id", workflow_id, env=env)  # no worker: it stays running
    second = await run_cli("research", "tides", "--id", workflow_id, env=env)
    try:
        assert first.returncode == 0 and first.stdout == f"started {workflow_id}\n", first.stderr
        assert second.returncode == 1
        assert second.stderr == f"error: a workflow with id {workflow_id!r} is already running\n"
    finally:
        await dev_client.get_workflow_handle(workflow_id).terminate("test over")


async def test_importable_starters_check_what_the_workflow_would_refuse(
    dev_client: Client, task_queue: str
) -> None:
    cases = [
        (
            api.start_research,
            ResearchInput(topic="tides", deliver_to="gopher://example.com"),
            "is not supported",
        ),
        (api.start_agent, AgentInput(goal="tides", tools=["teleport"]), "unknown tools ['teleport']"),
    ]
    for start, params, expected in cases:
        workflow_id = f"refused-{uuid.uuid4().hex[:8]}"
        with pytest.raises(api.StarterError) as refused:
            await start(dev_client, params, task_queue=task_queue, workflow_id=workflow_id)  # type: ignore[operator]
        assert expected in str(refused.value) and "\n" not in str(refused.value)
        with pytest.raises(RPCError) as missing:
            await dev_client.get_workflow_handle(workflow_id).describe()
        assert missing.value.status == RPCStatusCode.NOT_FOUND  # refused before anything started


async def test_input_over_the_payload_limit_is_refused_by_temporal_in_one_line(
    dev_client: Client, task_queue: str
) -> None:
    """The models cap topic and goal far below Temporal's 2 MB payload limit; a caller that builds its
    input without validation (model_construct) still gets one line, from the server's refusal."""
    oversized = ResearchInput.model_construct(
        **{**ResearchInput(topic="x").model_dump(), "topic": "t" * 3_000_000}
    )
    workflow_id = f"oversized-{uuid.uuid4().hex[:8]}"
    with pytest.raises(api.StarterError) as refused:
        await api.start_research(dev_client, oversized, task_queue=task_queue, workflow_id=workflow_id)
    message = str(refused.value)
    assert message.startswith("cannot start the workflow:") and "size exceeds limit" in message, message
    assert "\n" not in message
    with pytest.raises(RPCError) as missing:
        await dev_client.get_workflow_handle(workflow_id).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
