"""`@tool(timeout=..., max_attempts=...)`: a tool's own activity options replace the defaults (a
read-only tool is otherwise tried 5 times), and the decorator is typed (`ToolDefinition`)."""

from __future__ import annotations

import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from activities.tools.declare import ToolDefinition
from common.settings import Settings
from tests.kit import tool_options_workflow as probe
from worker.plugin import AiWorkflowsPlugin
from workflows.kit import KitInput


async def test_a_tools_own_attempts_and_timeout_apply(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    assert isinstance(probe.always_failing, ToolDefinition)
    assert probe.always_failing.options.max_attempts == 2
    probe.ATTEMPTS.clear()
    plugin = AiWorkflowsPlugin(
        settings,
        extensions=[],
        workflows=[probe.ToolOptionsProbe],
        activities=[probe.always_failing.activity],
    )
    async with Worker(ts_client, task_queue=task_queue, plugins=[plugin]):
        observation = await ts_client.execute_workflow(
            probe.ToolOptionsProbe.run,
            KitInput(),
            id=f"options-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
    assert observation.is_error and "broken: x" in observation.content
    assert len(probe.ATTEMPTS) == 2  # not the read-only default of 5
