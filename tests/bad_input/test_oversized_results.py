"""An activity result over Temporal's payload limit fails the step once, with the SDK's typed
`PayloadsTooLarge`, under every activity policy the workflows use: never a retry loop that recomputes
(and, for an LLM call, pays for) the same oversized answer."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from tests.bad_input.oversized_probe import CONTROL, OversizedResultProbe, OversizedResults


@pytest.mark.parametrize("options_name", ["LLM_CALL", "TOOL_CALL", "DELIVERY", "NOTIFY"])
async def test_an_oversized_result_fails_once_without_retries(
    product_client: Client, task_queue: str, options_name: str
) -> None:
    results = OversizedResults()
    async with Worker(
        product_client,
        task_queue=task_queue,
        workflows=[OversizedResultProbe],
        activities=[results.oversized_result],
    ):
        handle = await product_client.start_workflow(
            OversizedResultProbe.run,
            options_name,
            id=f"oversized-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        outcome = await handle.result()
    assert outcome.error_type == "PayloadsTooLarge", outcome
    assert "exceeded the error limit" in outcome.message
    assert results.calls == 1
    history = await handle.fetch_history()
    started = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert [e.activity_task_started_event_attributes.attempt for e in started] == [1]


async def test_control_a_policy_without_the_entry_recomputes_the_result(
    product_client: Client, task_queue: str
) -> None:
    results = OversizedResults()
    async with Worker(
        product_client,
        task_queue=task_queue,
        workflows=[OversizedResultProbe],
        activities=[results.oversized_result],
    ):
        outcome = await product_client.execute_workflow(
            OversizedResultProbe.run, CONTROL, id=f"oversized-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert outcome.error_type == "PayloadsTooLarge" and results.calls == 2
