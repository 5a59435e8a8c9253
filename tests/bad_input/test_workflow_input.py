"""Bad input sent straight to Temporal with `temporal workflow start` (no starter to catch it): each
run fails in its first workflow task with a typed, non-retryable, one-line `InvalidInput` — what the
Web UI shows as the run's failure — and never loops on workflow-task failures."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from common.devserver import temporal_binary
from common.settings import Settings
from tests.bad_input.rejection import rejection_of
from worker.app import build_worker

ROWS = [
    # (row of the docs table, workflow type, JSON input, what the message says)
    ("missing topic", "ResearchWorkflow", "{}", "invalid ResearchInput: topic: Field required"),
    (
        "empty topic",
        "ResearchWorkflow",
        '{"topic": ""}',
        "invalid ResearchInput: topic: String should have at least 1 character",
    ),
    (
        "blank topic",
        "ResearchWorkflow",
        '{"topic": "   "}',
        "invalid ResearchInput: topic: must not be blank",
    ),
    (
        "empty goal",
        "AgentWorkflow",
        '{"goal": ""}',
        "invalid AgentInput: goal: String should have at least 1 character",
    ),
    (
        "wrong type",
        "ResearchWorkflow",
        '{"topic": 42}',
        "invalid ResearchInput: topic: Input should be a valid string",
    ),
    (
        "wrong type",
        "ResearchWorkflow",
        '{"topic": "tides", "max_subtopics": "many"}',
        "invalid ResearchInput: max_subtopics: Input should be a valid integer",
    ),
    (
        "not an object",
        "AgentWorkflow",
        '"find tides"',
        "invalid AgentInput: input: Input should be an object",
    ),
    (
        "unknown tool",
        "AgentWorkflow",
        '{"goal": "tides", "tools": ["teleport"]}',
        "unknown tools ['teleport']",
    ),
    (
        "side-effect tool without approvers",
        "AgentWorkflow",
        '{"goal": "tides", "tools": ["send_email"]}',
        "need approval",
    ),
    (
        "invalid deliver_to",
        "ResearchWorkflow",
        '{"topic": "tides", "deliver_to": "ftp://example.com/reports"}',
        "is not supported: expected an http(s):// URL, mailto:ADDRESS or file:DIRECTORY",
    ),
    (
        "invalid deliver_to",
        "ResearchWorkflow",
        '{"topic": "tides", "deliver_to": "mailto:two@example.com,three@example.com"}',
        "is not a single email address",
    ),
    (
        "negative budget",
        "ResearchWorkflow",
        '{"topic": "tides", "budget_usd": -1}',
        "invalid ResearchInput: budget_usd: Input should be greater than or equal to 0",
    ),
    (
        "negative budget",
        "AgentWorkflow",
        '{"goal": "tides", "budget_usd": -0.01}',
        "invalid AgentInput: budget_usd: Input should be greater than or equal to 0",
    ),
    (
        "auto-approval sooner than 60 s",
        "ResearchWorkflow",
        '{"topic": "tides", "approvers": ["ana"], "approval_policy": "approve", "approval_timeout_s": 5}',
        "approval_timeout_s must be at least 60 s when approval_policy is 'approve'",
    ),
    (
        "internal field `carried` in a first run",
        "AgentWorkflow",
        '{"goal": "tides", "budget_usd": 0.01, "carried": {"messages": [], "iteration": -99999}}',
        "`carried` is set by the workflow when it continues-as-new",
    ),
    (
        "internal field `report_to_parent` without a parent",
        "AgentWorkflow",
        '{"goal": "tides", "report_to_parent": true}',
        "`report_to_parent` is for research child runs only",
    ),
]


async def temporal_workflow_start(
    client: Client, task_queue: str, workflow_type: str, json_input: str
) -> str:
    workflow_id = f"bad-input-{uuid.uuid4().hex[:10]}"
    process = await asyncio.create_subprocess_exec(
        temporal_binary(),
        "workflow",
        "start",
        "--address",
        client.service_client.config.target_host,
        "--task-queue",
        task_queue,
        "--type",
        workflow_type,
        "--workflow-id",
        workflow_id,
        "--input",
        json_input,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()  # Temporal accepts the start; the run rejects the input
    return workflow_id


@pytest.mark.parametrize(("row", "workflow_type", "json_input", "expected"), ROWS)
async def test_bad_input_fails_the_run_at_once(
    product_client: Client,
    offline_worker: Worker,
    task_queue: str,
    row: str,
    workflow_type: str,
    json_input: str,
    expected: str,
) -> None:
    workflow_id = await temporal_workflow_start(product_client, task_queue, workflow_type, json_input)
    rejection = await rejection_of(product_client.get_workflow_handle(workflow_id))
    assert rejection.type == "InvalidInput", row
    assert expected in rejection.message, (row, rejection.message)
    assert rejection.seconds < 5, row


async def test_without_the_product_converter_bad_input_still_fails_the_run(
    dev_client: Client, task_queue: str, settings: Settings
) -> None:
    """A worker on the SDK's plain pydantic converter: the workflows list pydantic's ValidationError as
    a failure exception type, so the run still fails instead of retrying its first task forever (the
    message is pydantic's, several lines)."""
    async with build_worker(dev_client, settings):
        workflow_id = await temporal_workflow_start(
            dev_client, task_queue, "ResearchWorkflow", '{"topic": ""}'
        )
        handle = dev_client.get_workflow_handle(workflow_id)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    history = await handle.fetch_history()
    assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert getattr(failure.value.cause, "type", None) == "ValidationError"
