"""`python -m worker --role workflows` and `--role activities` on one task queue run the product
together: one process takes the workflow tasks, the other the activities (docs/operations.md)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from starter import api
from tests.chaos.processes import WorkerProcess, clean_environment
from workflows.models import ResearchInput


async def test_a_workflow_process_and_an_activity_process_complete_a_run(
    dev_server_env: WorkflowEnvironment, dev_client: Client, task_queue: str, tmp_path: Path
) -> None:
    env = clean_environment(
        {
            "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "LLM_PROVIDER": "offline",
            "PAYLOAD_STORE": "off",
            "WORKER_GRACEFUL_SHUTDOWN_S": "0",
        }
    )
    workflows = WorkerProcess(env, tmp_path, args=["--role", "workflows"])
    activities = WorkerProcess(env, tmp_path, args=["--role", "activities"])
    try:
        await asyncio.gather(workflows.wait_ready(), activities.wait_ready())
        handle = await api.start_research(
            dev_client, ResearchInput(topic="lighthouses", max_subtopics=2), task_queue=task_queue
        )
        result = await asyncio.wait_for(handle.result(), 60)
        history = await handle.fetch_history()
    finally:
        await asyncio.gather(workflows.stop(), activities.stop())
    assert len(result.subtopics) == 2
    identities = {
        pid
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
        for pid in [int(event.workflow_task_started_event_attributes.identity.split("@", 1)[0])]
    }
    runners = {
        int(event.activity_task_started_event_attributes.identity.split("@", 1)[0])
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    }
    assert identities == {workflows.pid} and runners == {activities.pid}
    # Only the activity process journals attempts; both released their leases on the way out.
    assert os.listdir(tmp_path / ".state" / "workers") == []
