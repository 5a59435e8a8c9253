"""The tools through a real worker (time-skipping server): registered by `build_worker` under the
declared activity names, payloads through the pydantic converter, and Temporal retrying a 503."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from activities.kit import registry
from common.settings import Settings
from tests.tools.conftest import LocalServer
from tests.tools.probe_workflow import ProbeInput, ToolCall, ToolProbeWorkflow
from worker.app import build_worker, registered_names


async def test_worker_registers_every_read_only_tool(ts_client: Client, settings: Settings) -> None:
    _, names = registered_names(build_worker(ts_client, settings))
    read_only = {tool.activity_name for tool in registry.all() if not tool.side_effect}
    assert read_only <= set(names)


async def test_tools_run_in_a_worker(
    ts_client: Client, settings: Settings, task_queue: str, local_server: LocalServer
) -> None:
    local_server.state.flaky_failures = 1  # the first fetch gets a 503; Temporal's retry gets the 200
    settings = settings.model_copy(update={"tools_http_allowlist": local_server.base_url})  # http, its port
    calls = [
        ToolCall(name="calculator", arguments={"expression": "6 * 7"}),
        ToolCall(name="calculator", arguments={"expression": "import os"}),
        ToolCall(name="current_time", arguments={"timezone": "Asia/Tokyo"}),
        ToolCall(name="current_time", arguments={"timezone": "Nowhere/City"}),
        ToolCall(name="search_docs", arguments={"query": "continue-as-new history", "limit": 1}),
        ToolCall(name="http_get", arguments={"url": f"{local_server.base_url}/flaky"}),
        ToolCall(name="http_get", arguments={"url": "https://example.com/"}),
    ]
    worker = build_worker(ts_client, settings, workflows=[ToolProbeWorkflow])
    assert "tool.http_get" in registered_names(worker)[1]
    async with worker:
        results = await ts_client.execute_workflow(
            ToolProbeWorkflow.run,
            ProbeInput(calls=calls),
            id=f"probe-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
    calc, calc_bad, tokyo, nowhere, docs, flaky, refused = results
    assert (calc.content, calc.is_error) == ("42", False)
    assert calc_bad.is_error
    assert "+09:00 (" in tokyo.content and not tokyo.is_error
    assert nowhere.is_error
    assert docs.content.startswith("[1] temporal-basics.md") and "continue-as-new" in docs.content
    assert not flaky.is_error and "answered on call 2" in flaky.content
    assert local_server.state.flaky_calls == 2
    assert refused.is_error and "'example.com' is not allowed" in refused.content
