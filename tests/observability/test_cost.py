"""Where the money went: the per-step costs in the status query and in `python -m starter status`'s
table add up to the run's cost, each one matches the pricing table (cache reads and writes priced
apart, over the real Anthropic protocol; the prices are genai-prices'), failed attempts are counted
in their step, an unpriced model says so instead of $0, and visibility finds runs by their cost
(`AiCostUsd`), as `temporal workflow list --query 'AiCostUsd > 1'` does."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from activities.llm.models import Usage
from activities.llm.pricing import PriceTable
from common.settings import Settings
from starter import api, render
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Reply, Truncate
from worker.app import build_worker
from workflows.models import ResearchInput, StepRecord, WorkflowStatus


def _table_costs(text: str) -> tuple[list[str], str]:
    """The cost cells of the step rows and of the totals row of the status table."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["step", "model"])
    rows = lines[header + 2 : -2]  # between the two rules
    return [row.split()[-1] for row in rows], lines[-1].split()[-1]


async def test_step_costs_add_up_and_match_the_pricing_table(
    ts_client: Client, anthropic_settings: Settings
) -> None:
    async with build_worker(ts_client, anthropic_settings):
        handle = await api.start_research(
            ts_client,
            ResearchInput(topic="glacier retreat", max_subtopics=3),
            task_queue=anthropic_settings.temporal_task_queue,
        )
        result = await handle.result()
        status = await handle.query("status", result_type=WorkflowStatus)

    steps = [s for s in status.completed_steps if s.kind == "llm"]
    assert len(steps) == 5
    # The fake server caches the shared system prompt of the research steps: both kinds of cache
    # tokens occur, so the check below covers all four prices.
    assert any(s.cache_write_tokens for s in steps) and any(s.cache_read_tokens for s in steps)
    prices = PriceTable.load(provider_id="anthropic")
    for step in steps:
        price = prices.price_for(step.model or "")
        assert price is not None, f"{step.model} is not in the pricing table"
        expected = (
            step.input_tokens * price.input
            + step.output_tokens * price.output
            + step.cache_write_tokens * price.cache_write
            + step.cache_read_tokens * price.cache_read
        ) / 1_000_000
        assert abs(step.cost_usd - expected) < 1e-12
        assert step.cost_usd == prices.cost(
            step.model or "",
            Usage(
                input_tokens=step.input_tokens,
                output_tokens=step.output_tokens,
                cache_read_tokens=step.cache_read_tokens,
                cache_write_tokens=step.cache_write_tokens,
            ),
        )
    assert abs(status.cost_usd - sum(s.cost_usd for s in status.completed_steps)) < 1e-12
    assert abs(result.cost_usd - status.cost_usd) < 1e-12

    # The report `python -m starter status ID` prints: every row's cost, and the total.
    row_costs, total_cost = _table_costs(render.status_text(handle.id, status))
    assert row_costs == [render.money(s.cost_usd) for s in status.completed_steps]
    assert (
        total_cost
        == render.money(sum(s.cost_usd for s in status.completed_steps))
        == render.money(status.cost_usd)
    )


async def test_visibility_finds_runs_over_a_dollar(
    dev_client: Client, settings: Settings, tmp_path: Path
) -> None:
    # A price list that makes the offline model expensive: one run costs more than $1.
    pricing = tmp_path / "prices.json"
    pricing.write_text(
        json.dumps({"offline-model": {"input": 5000, "output": 5000, "cache_write": 0, "cache_read": 0}})
    )
    expensive = settings.model_copy(update={"llm_pricing_file": pricing})
    async with build_worker(dev_client, expensive):
        handle = await api.start_research(
            dev_client,
            ResearchInput(topic="sea ice", max_subtopics=1),
            task_queue=settings.temporal_task_queue,
        )
        result = await handle.result()
    assert result.cost_usd > 1

    over_a_dollar = f"WorkflowId = '{handle.id}' AND AiCostUsd > 1"
    deadline = time.monotonic() + 30
    while (await dev_client.count_workflows(over_a_dollar)).count != 1:
        assert time.monotonic() < deadline, "the run never showed up with AiCostUsd > 1"
        await asyncio.sleep(0.1)  # polling the visibility store for a condition, bounded
    above_its_cost = f"WorkflowId = '{handle.id}' AND AiCostUsd > {result.cost_usd + 0.01}"
    assert (await dev_client.count_workflows(above_its_cost)).count == 0

    # The operator's command line, as the README shows it.
    listed = await asyncio.to_thread(
        subprocess.run,
        [
            str(Path(sys.executable).parent / "temporal"),
            "workflow",
            "list",
            "--address",
            dev_client.service_client.config.target_host,
            "--query",
            over_a_dollar,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert [run["execution"]["workflowId"] for run in json.loads(listed.stdout)] == [handle.id]


async def test_a_failed_attempt_is_counted_in_its_step_and_the_run_total(
    ts_client: Client,
    anthropic_settings: Settings,
    anthropic_server: AnthropicServer,
    span_exporter: InMemorySpanExporter,
) -> None:
    """The plan step's first attempt is cut after message_start (its input was billed); the retry
    answers. The step's tokens and cost, and the run's, count both attempts; the answering attempt's
    span carries the retried tokens apart."""
    cut = Usage(input_tokens=3000, output_tokens=1)
    anthropic_server.script(Truncate(after_events=1, reply=Reply(usage=cut)), step="plan")
    async with build_worker(ts_client, anthropic_settings):
        handle = await api.start_research(
            ts_client,
            ResearchInput(topic="tide pools", max_subtopics=1),
            task_queue=anthropic_settings.temporal_task_queue,
        )
        result = await handle.result()
        status = await handle.query("status", result_type=WorkflowStatus)

    [plan] = [s for s in status.completed_steps if s.step == "plan"]
    assert (plan.retried_input_tokens, plan.retried_output_tokens, plan.retried_attempts) == (3000, 1, 1)
    answered = Usage(
        input_tokens=plan.input_tokens - 3000,
        output_tokens=plan.output_tokens - 1,
        cache_read_tokens=plan.cache_read_tokens,
        cache_write_tokens=plan.cache_write_tokens,
    )
    prices = PriceTable.load(provider_id="anthropic")
    model = plan.model or ""
    assert prices.cost(model, cut) > 0
    assert abs(plan.cost_usd - prices.cost(model, cut) - prices.cost(model, answered)) < 1e-12
    assert abs(status.cost_usd - sum(s.cost_usd for s in status.completed_steps)) < 1e-12
    assert status.usage.input_tokens == sum(s.input_tokens for s in status.completed_steps)
    assert abs(result.cost_usd - status.cost_usd) < 1e-12

    [span] = [
        s
        for s in span_exporter.get_finished_spans()
        if (s.attributes or {}).get("gen_ai.conversation.id") == handle.id
        and (s.attributes or {}).get("ai_workflows.step") == "plan"
        and "error.type" not in (s.attributes or {})
    ]
    attributes = span.attributes or {}
    assert attributes["ai_workflows.retried.input_tokens"] == 3000
    assert attributes["ai_workflows.retried.output_tokens"] == 1
    assert attributes["ai_workflows.retried.attempts"] == 1
    assert attributes["ai_workflows.retried.cost_usd"] == prices.cost(model, cut)
    assert attributes["ai_workflows.cost_usd"] == plan.cost_usd
    assert attributes["gen_ai.usage.output_tokens"] == answered.output_tokens


def test_an_unpriced_step_shows_unpriced_not_zero() -> None:
    priced = StepRecord(step="plan", kind="llm", model="claude-haiku-4-5", input_tokens=10, cost_usd=0.00001)
    unpriced = StepRecord(step="research 1", kind="llm", model="house-model", input_tokens=10, priced=False)
    rows, total = _table_costs(render.steps_table([priced, unpriced]))
    assert rows == [render.money(0.00001), "unpriced"]
    assert total == f"{render.money(0.00001)}+unpriced"
    assert _table_costs(render.steps_table([unpriced])) == (["unpriced"], "unpriced")
