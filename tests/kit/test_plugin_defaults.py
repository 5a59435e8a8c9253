"""What `AiWorkflowsPlugin` sets on a worker: the product's options only where the worker's creator
left the SDK's default, pydantic's ValidationError as a workflow failure type, and the kit's
modules passed through the sandbox, so a user's workflow needs neither boilerplate."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from common.settings import Settings
from tests.kit.plain_workflow import PlainInput, PlainKitWorkflow
from worker.plugin import AiWorkflowsPlugin


def plugin(settings: Settings) -> AiWorkflowsPlugin:
    return AiWorkflowsPlugin(settings, extensions=[], workflows=[PlainKitWorkflow], activities=[])


async def test_options_the_creator_set_are_kept_and_the_rest_come_from_the_settings(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    mine = Worker(
        ts_client,
        task_queue=task_queue,
        plugins=[plugin(settings)],
        max_concurrent_activities=7,
        graceful_shutdown_timeout=timedelta(seconds=3),
    ).config(active_config=True)
    assert mine.get("max_concurrent_activities") == 7
    assert mine.get("graceful_shutdown_timeout") == timedelta(seconds=3)
    assert mine.get("max_concurrent_workflow_tasks") == settings.worker_max_concurrent_workflow_tasks
    other_queue = f"{task_queue}-defaults"  # the SDK refuses two workers on one task queue
    defaults = Worker(ts_client, task_queue=other_queue, plugins=[plugin(settings)]).config(
        active_config=True
    )
    assert defaults.get("max_concurrent_activities") == settings.worker_max_concurrent_activities
    assert defaults.get("graceful_shutdown_timeout") == timedelta(seconds=settings.worker_graceful_shutdown_s)


async def test_a_plain_user_workflow_runs_and_a_validation_error_fails_the_run(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    async with Worker(ts_client, task_queue=task_queue, plugins=[plugin(settings)]):
        ok = await ts_client.execute_workflow(
            PlainKitWorkflow.run,
            PlainInput(count=2),
            id=f"plain-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        assert ok == 2
        with pytest.raises(WorkflowFailureError) as failure:
            await ts_client.execute_workflow(
                PlainKitWorkflow.run,
                PlainInput(count=9),
                id=f"plain-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=30),
            )
    assert getattr(failure.value.cause, "type", None) == "ValidationError"
