"""A worker SIGKILLed mid-stream: the killed attempt's usage, from its last heartbeat's details, is
counted by the attempt that a replacement worker runs (real worker processes, dev server, the
local Messages-API server; as tests/recovery/test_resume_after_kill.py kills them)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.llm.models import AttemptProgress, Usage
from activities.llm.pricing import PriceTable
from tests.chaos.processes import ReplaceableWorker
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Reply, Stall
from tests.recovery.test_resume_after_kill import start_run_until_its_plan_step_stalls, worker_env
from workflows.models import ResearchResult, WorkflowStatus
from workflows.research import ResearchWorkflow

pytestmark = pytest.mark.timeout(120)

CUT = Usage(input_tokens=4200, output_tokens=1, cache_read_tokens=900)


async def _heartbeated_usage(
    client: Client, handle: WorkflowHandle[ResearchWorkflow, ResearchResult]
) -> Usage:
    """Waits until Temporal holds the in-flight attempt's usage in its heartbeat details (heartbeats
    are throttled: the usage seen in the last moments before a kill may not have reached it)."""
    while True:
        description = await handle.describe()
        for pending in description.raw_description.pending_activities:
            payloads = pending.heartbeat_details.payloads
            if payloads:
                [detail] = await client.data_converter.decode(payloads)
                progress = AttemptProgress.model_validate(detail)
                if progress.usage.input_tokens:
                    return progress.usage
        await asyncio.sleep(0.05)  # polling the server's state, not a synchronisation by time


async def test_a_killed_attempts_heartbeat_usage_is_counted_by_the_resumed_step(
    dev_server_env: WorkflowEnvironment, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    client = dev_server_env.client
    task_queue = f"usage-kill-{uuid.uuid4().hex[:8]}"
    env = worker_env(dev_server_env, anthropic_server, task_queue, tmp_path)
    # The plan step's stream sends message_start (the input is billed) and hangs.
    anthropic_server.script(Stall(after_events=2, reply=Reply(usage=CUT)))
    async with ReplaceableWorker(env, tmp_path, release=anthropic_server.release) as worker:
        handle = await start_run_until_its_plan_step_stalls(client, anthropic_server, task_queue)
        assert await _heartbeated_usage(client, handle) == CUT
        await worker.kill()
        worker.replace()
        result = await handle.result()
        status = await handle.query("status", result_type=WorkflowStatus)

    assert result.outcome == "completed"
    [plan] = [step for step in status.completed_steps if step.step == "plan"]
    assert (plan.retried_input_tokens, plan.retried_output_tokens, plan.retried_attempts) == (4200, 1, 1)
    model = plan.model or ""
    answered = Usage(
        input_tokens=plan.input_tokens - CUT.input_tokens,
        output_tokens=plan.output_tokens - CUT.output_tokens,
        cache_read_tokens=plan.cache_read_tokens - CUT.cache_read_tokens,
        cache_write_tokens=plan.cache_write_tokens,
    )
    prices = PriceTable.load(provider_id="anthropic")
    assert plan.cost_usd == pytest.approx(prices.cost(model, CUT) + prices.cost(model, answered))
