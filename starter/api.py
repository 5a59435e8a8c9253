"""Importable async functions other services call; each takes a connected `Client`."""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowHandle

from workflows.models import ResearchInput, ResearchResult, WorkflowStatus
from workflows.research import ResearchWorkflow

DEFAULT_TASK_QUEUE = "ai-workflows"


def new_workflow_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


async def start_research(
    client: Client,
    params: ResearchInput,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    workflow_id: str | None = None,
) -> WorkflowHandle[ResearchWorkflow, ResearchResult]:
    return await client.start_workflow(
        ResearchWorkflow.run,
        params,
        id=workflow_id or new_workflow_id("research"),
        task_queue=task_queue,
        static_summary=f"Research: {params.topic[:100]}",
    )


async def get_status(client: Client, workflow_id: str) -> WorkflowStatus:
    return await client.get_workflow_handle(workflow_id).query("status", result_type=WorkflowStatus)
