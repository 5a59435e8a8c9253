"""Which payloads go to the store, through a real worker on the dev server: only what passes between
a workflow and its activities. A run's input and result, a Query's answer, an Update's result, a
Signal, memo and a child workflow's input stay plain JSON, read here by a client that has no payload
store at all (as the `temporal` CLI, the Web UI and a TypeScript service are)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from common.converter import product_data_converter
from common.settings import Settings
from tests.storage.long_answers import long_answer_worker
from workflows.models import (
    AgentInput,
    AgentResult,
    ApprovalDecision,
    ApprovalRecord,
    ResearchInput,
    ResearchResult,
    WorkflowStatus,
)

ANSWER_BYTES = 20_000
THRESHOLD = 100  # far below every public payload here: whatever stays inline does so by design


def plain_client(dev_client: Client) -> Client:
    """A client without the payload store: it fails on any reference it has to decode."""
    return Client(
        dev_client.service_client, namespace=dev_client.namespace, data_converter=product_data_converter
    )


async def awaiting_approval(handle: WorkflowHandle, within_s: float = 60.0) -> WorkflowStatus:
    deadline = time.monotonic() + within_s
    while True:
        status: WorkflowStatus = await handle.query("status", result_type=WorkflowStatus)
        if status.pending_approval is not None:
            return status
        assert time.monotonic() < deadline, f"no approval requested: {status.phase}"
        await asyncio.sleep(0.1)


def is_plain_json(payload: Payload) -> bool:
    if payload.external_payloads or payload.metadata.get("encoding") != b"json/plain":
        return False
    json.loads(payload.data)
    return True


def activity_payloads(history: WorkflowHistory) -> list[Payload]:
    found: list[Payload] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            found.extend(event.activity_task_scheduled_event_attributes.input.payloads)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            found.extend(event.activity_task_completed_event_attributes.result.payloads)
    return found


@pytest_asyncio.fixture
async def plain(dev_client: Client, settings: Settings) -> AsyncIterator[Client]:
    """A client that never touches the store, while a worker runs whose model answers ANSWER_BYTES
    and whose store takes payloads over THRESHOLD."""
    settings = settings.model_copy(update={"payload_store_threshold_bytes": THRESHOLD})
    async with long_answer_worker(dev_client, settings, ANSWER_BYTES):
        yield plain_client(dev_client)


async def test_agent_input_result_and_query_are_plain_activity_payloads_are_stored(
    plain: Client, task_queue: str
) -> None:
    handle = await plain.start_workflow(
        "AgentWorkflow",
        AgentInput(goal="What is 17 * 23?", tools=["calculator"], max_iterations=4),
        id=f"boundary-agent-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        memo={"note": "x" * 500},
        result_type=AgentResult,
    )
    result = await handle.result()
    status = await handle.query("status", result_type=WorkflowStatus)
    assert len(result.answer) >= ANSWER_BYTES and "391" in result.answer
    assert status.phase == "completed"
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert all(is_plain_json(p) for p in started.input.payloads)
    assert is_plain_json(started.memo.fields["note"])
    [completed] = [e for e in history.events if e.HasField("workflow_execution_completed_event_attributes")]
    assert all(
        is_plain_json(p) for p in completed.workflow_execution_completed_event_attributes.result.payloads
    )
    stored = [p for p in activity_payloads(history) if p.external_payloads]
    assert len(stored) >= 3  # the model's requests and replies: in the store, references here


async def test_research_update_signal_and_child_inputs_are_plain(plain: Client, task_queue: str) -> None:
    handle = await plain.start_workflow(
        "ResearchWorkflow",
        ResearchInput(topic="tide pools", max_subtopics=2, depth="deep", approvers=["ana"]),
        id=f"boundary-research-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=ResearchResult,
    )
    await awaiting_approval(handle)
    await handle.signal("approve", ApprovalDecision(approver="mallory", approved=True))  # ignored
    record = await handle.execute_update(
        "approve",
        ApprovalDecision(approver="ana", approved=True, comment="ok"),
        result_type=ApprovalRecord,
    )
    result = await handle.result()
    assert record.approved and record.via == "update"
    assert len(result.report) >= ANSWER_BYTES
    history = await handle.fetch_history()
    children = [
        e.start_child_workflow_execution_initiated_event_attributes
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert len(children) == 2 and all(is_plain_json(p) for c in children for p in c.input.payloads)
    updates = [
        e.workflow_execution_update_completed_event_attributes.outcome.success
        for e in history.events
        if e.HasField("workflow_execution_update_completed_event_attributes")
    ]
    assert updates and all(is_plain_json(p) for u in updates for p in u.payloads)
    signals = [
        e.workflow_execution_signaled_event_attributes.input
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
        and e.workflow_execution_signaled_event_attributes.signal_name == "approve"
    ]
    assert signals and all(is_plain_json(p) for s in signals for p in s.payloads)
    assert any(p.external_payloads for p in activity_payloads(history))
