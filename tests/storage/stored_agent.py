"""A real product worker whose converter uses the payload store, and agent runs on it: the runs
whose histories hold references (tests/storage, the codec server's store tests)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHistory

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.base import LLMProvider
from activities.tools import builtin  # noqa: F401 - declares the built-in tools
from activities.tools.declare import registry
from bench.model import BenchModel, ModelConfig
from common.converter import build_data_converter
from common.settings import Settings
from worker.app import build_activities, build_worker
from workflows.models import AgentInput, AgentResult


@asynccontextmanager
async def store_worker(dev_client: Client, settings: Settings, reply_bytes: int) -> AsyncIterator[Client]:
    """A client with the product converter for `settings` (payload store, keys) and a worker on
    `settings`' task queue whose model asks for `calculator` every turn, with replies this long."""
    converter = build_data_converter(settings)
    client = Client(dev_client.service_client, namespace=dev_client.namespace, data_converter=converter)
    activities = with_model(settings, BenchModel(ModelConfig(reply_bytes=reply_bytes)))
    async with build_worker(client, settings, activities=activities):
        yield client


def with_model(settings: Settings, model: LLMProvider) -> list[Callable[..., Any]]:
    """The worker's activities for `settings` (the product's and every declared tool's), with
    `model` behind `llm.complete`."""
    others = [
        function
        for function in [*build_activities(settings), *(tool.activity for tool in registry.all())]
        if activity._Definition.must_from_callable(function).name != "llm.complete"
    ]
    return [LLMActivities(model, PriceTable.load(None)).complete, *others]


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
