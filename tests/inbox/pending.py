"""Research runs that wait for approval, for the inbox's tests against the dev server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio.client import Client, WorkflowHandle

from common.settings import Settings
from inbox.runs import AWAITING_APPROVAL
from starter.api import start_research
from tests.fakes.receivers import HttpReceiver
from workflows.models import ResearchInput, ResearchResult

TOPIC = "How durable execution keeps AI agents from repeating side effects"


async def start_pending_research(
    client: Client, settings: Settings, receiver: HttpReceiver, **options: Any
) -> WorkflowHandle[Any, ResearchResult]:
    """A research run for approver alice that delivers to the receiver, once it waits for approval
    and the visibility store shows it so (what the inbox lists)."""
    handle = await start_research(
        client,
        ResearchInput(
            **{
                "topic": TOPIC,
                "max_subtopics": 2,
                "approvers": ["alice"],
                "deliver_to": f"{receiver.url}/reports",
            }
            | options
        ),
        task_queue=settings.temporal_task_queue,
    )
    await listed_as_pending(client, handle.id)
    return handle


async def listed_as_pending(client: Client, workflow_id: str) -> None:
    """Returns once the visibility store shows the run as awaiting approval (what the inbox lists)."""
    query = f'WorkflowId = "{workflow_id}" AND AiPhase = "{AWAITING_APPROVAL}"'
    deadline = time.monotonic() + 30
    while not [run async for run in client.list_workflows(query)]:
        assert time.monotonic() < deadline, "the run never showed up as awaiting approval"
        await asyncio.sleep(0.1)  # polling the visibility store for a condition, bounded
