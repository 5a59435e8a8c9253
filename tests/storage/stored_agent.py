"""A real product worker whose converter uses the payload store, and agent runs on it: the runs
whose histories hold references (tests/storage, the codec server's store tests)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client, WorkflowHistory

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.tools.read_only import ToolActivities
from bench.model import BenchModel, ModelConfig
from common.converter import build_data_converter
from common.settings import Settings
from worker.app import build_worker
from workflows.models import AgentInput, AgentResult


@asynccontextmanager
async def store_worker(dev_client: Client, settings: Settings, reply_bytes: int) -> AsyncIterator[Client]:
    """A client with the product converter for `settings` (payload store, keys) and a worker on
    `settings`' task queue whose model asks for `calculator` every turn, with replies this long."""
    converter = build_data_converter(settings)
    client = Client(dev_client.service_client, namespace=dev_client.namespace, data_converter=converter)
    activities = [
        LLMActivities(BenchModel(ModelConfig(reply_bytes=reply_bytes)), PriceTable.load(None)).complete,
        *ToolActivities.from_settings(settings).all(),
    ]
    async with build_worker(client, settings, activities=activities):
        yield client


async def run_agent(client: Client, queue: str, iterations: int, goal: str | None = None) -> WorkflowHistory:
    """An agent that runs to its iteration cap; its history."""
    handle = await client.start_workflow(
        "AgentWorkflow",
        AgentInput(
            goal=goal or f"stored {uuid.uuid4().hex}", tools=["calculator"], max_iterations=iterations
        ),
        id=f"stored-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
        result_type=AgentResult,
    )
    result = await handle.result()
    assert result.iterations == iterations and result.outcome == "max_iterations"
    return await handle.fetch_history()
