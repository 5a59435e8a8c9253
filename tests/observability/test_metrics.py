"""The product's OTel metrics, read with the SDK's in-memory reader after real runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.tools.calculator import CalculatorInput
from common import metrics
from common.settings import Settings
from starter import api
from worker.app import build_worker
from workflows.models import ResearchInput


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    if data is None:  # nothing recorded yet
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


async def test_llm_tokens_cost_and_latency_are_recorded(
    ts_client: Client, settings: Settings, metric_reader: InMemoryMetricReader
) -> None:
    async with build_worker(ts_client, settings):
        handle = await api.start_research(
            ts_client,
            ResearchInput(topic="coral reefs", max_subtopics=2),
            task_queue=settings.temporal_task_queue,
        )
        result = await handle.result()
    points = _points(metric_reader)
    llm_steps = [s for s in result.steps if s.kind == "llm"]

    tokens = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert tokens["input"].sum == sum(
        s.input_tokens + s.cache_read_tokens + s.cache_write_tokens for s in llm_steps
    )
    assert tokens["output"].sum == sum(s.output_tokens for s in llm_steps)
    assert tokens["input"].count == len(llm_steps)
    assert tokens["input"].attributes["gen_ai.provider.name"] == "offline"
    assert tokens["input"].attributes["gen_ai.response.model"] == "offline-model"

    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.count == len(llm_steps) and duration.sum > 0
    (cost,) = points["ai_workflows.llm.cost"]
    assert abs(cost.value - result.cost_usd) < 1e-12


async def test_tool_errors_are_counted_by_tool_and_type(
    time_skipping_env: WorkflowEnvironment, settings: Settings, metric_reader: InMemoryMetricReader
) -> None:
    """Drives the `tool.calculator` activity through a real worker: one good and one refused
    expression (an error observation the model would see)."""
    from tests.observability.tool_probe import ToolProbe

    client = time_skipping_env.client
    async with build_worker(client, settings, workflows=[ToolProbe]):
        observations = await client.execute_workflow(
            ToolProbe.run,
            [CalculatorInput(expression="6 * 7"), CalculatorInput(expression="1 / 0")],
            id=f"tool-probe-{settings.temporal_task_queue}",
            task_queue=settings.temporal_task_queue,
        )
    assert [o.is_error for o in observations] == [False, True]
    points = _points(metric_reader)
    (calls,) = [p for p in points["ai_workflows.tool.calls"] if "error.type" not in p.attributes]
    assert calls.value == 1 and calls.attributes["gen_ai.tool.name"] == "calculator"
    (errors,) = points["ai_workflows.tool.errors"]
    assert errors.value == 1
    assert dict(errors.attributes) == {"gen_ai.tool.name": "calculator", "error.type": "tool_error"}


def test_approvals_waiting_reports_nothing_until_counted(metric_reader: InMemoryMetricReader) -> None:
    assert "ai_workflows.approvals.waiting" not in _points(metric_reader)
    metrics.current().set_approvals_waiting(3)
    (waiting,) = _points(metric_reader)["ai_workflows.approvals.waiting"]
    assert waiting.value == 3


async def test_approvals_waiting_follows_visibility(
    dev_client: Client, settings: Settings, metric_reader: InMemoryMetricReader
) -> None:
    """The worker's gauge counts the runs at an approval gate, from the visibility store."""

    async def count(query: str) -> int:
        return (await dev_client.count_workflows(query)).count

    async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
        deadline = time.monotonic() + 30
        while not await condition():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.05)  # polling the visibility store / the reader, bounded

    def gauge() -> float | None:
        points = _points(metric_reader).get("ai_workflows.approvals.waiting")
        return points[0].value if points else None

    async with build_worker(dev_client, settings):
        handle = await api.start_research(
            dev_client,
            ResearchInput(topic="mangroves", max_subtopics=1, approvers=["ana"]),
            task_queue=settings.temporal_task_queue,
        )
        this_run = f"{metrics.APPROVALS_WAITING_QUERY} AND WorkflowId = '{handle.id}'"
        await until(lambda: _is(count(this_run), 1), "the run never showed up as waiting for approval")

        stop = asyncio.Event()
        watcher = asyncio.create_task(
            metrics.watch_approvals_waiting(dev_client, metrics.current(), interval_s=0.05, stop=stop)
        )
        try:
            await until(lambda: _settled(gauge, count), "the gauge never matched visibility")
            assert (gauge() or 0) >= 1
            await api.approve(dev_client, handle.id, "ana", "ok")
            await handle.result()
            await until(lambda: _is(count(this_run), 0), "the run still shows as waiting")
        finally:
            stop.set()
            await watcher


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _settled(gauge: Callable[[], float | None], count: Callable[[str], Awaitable[int]]) -> bool:
    """The gauge shows what visibility counts now (other tests' runs may be waiting too)."""
    shown = gauge()
    return shown is not None and shown >= 1 and shown == await count(metrics.APPROVALS_WAITING_QUERY)
