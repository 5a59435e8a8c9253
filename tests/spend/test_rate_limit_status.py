"""A run whose model call waits for the shared rate limit shows it in `status` (`waiting_for`: which
limit, until when, which step) while it waits, and no longer once the call went out; the call waits
its turn instead of failing; cancelling the run ends the wait at once, the call never sent. Real dev
server, the product's worker and the real `llm.complete`."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from activities.llm.activity import LLM_CALL_CANCELLED, LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.offline import OfflineProvider
from activities.spend.rate_limit import RateLimiter, SqliteBuckets
from common.rate_limits import parse_rate_limits
from common.settings import Settings
from tests.workflow.doubles import Recorder
from tests.workflow.support import status_until, worker_with
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, WorkflowStatus


async def test_status_shows_the_wait_for_the_rate_limit_while_it_lasts(
    dev_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    model = f"offline-{uuid.uuid4().hex[:8]}"
    # One request every 4 s, one at a time; the test takes the first, so the run's call waits ~4 s.
    limits = parse_rate_limits(f'{{"offline/{model}": {{"rpm": 15, "burst": 1}}}}')
    limiter = RateLimiter(limits, SqliteBuckets(tmp_path / "spend.sqlite3"))
    limit = limiter.limit_for("offline", model)
    assert limit is not None and (await limiter.try_admit(limit, 1)).admitted
    llm = LLMActivities(OfflineProvider(), PriceTable.load(None), rate_limiter=limiter)
    async with worker_with(dev_client, settings, [llm.complete, *Recorder().activities()]):
        started = time.monotonic()
        handle = await dev_client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="Say hello.", tools=[], model=model, max_iterations=1),
            id=f"agent-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        waiting = await status_until(handle, lambda s: s.waiting_for is not None, timeout_s=10)
        assert waiting.waiting_for is not None
        assert waiting.waiting_for.startswith(f"rate limit offline/{model} until ")
        assert "Z (step " in waiting.waiting_for and not waiting.completed_steps
        # Once its turn came the call went out: the wait is no longer shown, then the step ends.
        after = await status_until(handle, lambda s: s.waiting_for is None, timeout_s=15)
        result = await handle.result()
        waited = time.monotonic() - started
        final = await handle.query("status", result_type=WorkflowStatus)
        history = await handle.fetch_history()
    assert result.outcome == "completed" and len(result.steps) == 1 and result.steps[0].ok
    assert waited >= 3.0  # it did wait for the limit (the step was refused nothing)
    assert final.waiting_for is None and after.waiting_for is None
    # The run heard of the wait twice (it began, it ended): history does not grow per call.
    signals = [e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")]
    assert [e.workflow_execution_signaled_event_attributes.signal_name for e in signals] == [
        "rate_limit_wait",
        "rate_limit_wait",
    ]


class CountingModel(OfflineProvider):
    """The offline model, counting the requests that reach it."""

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request: Any, model: str, heartbeat: Any) -> Any:
        self.calls += 1
        return await super().complete(request, model, heartbeat)


async def test_cancelling_a_run_ends_its_wait_for_the_rate_limit(
    dev_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    model = f"offline-{uuid.uuid4().hex[:8]}"
    limits = parse_rate_limits(f'{{"offline/{model}": {{"rpm": 1}}}}')  # the next slot: in a minute
    limiter = RateLimiter(limits, SqliteBuckets(tmp_path / "spend.sqlite3"))
    limit = limiter.limit_for("offline", model)
    assert limit is not None and (await limiter.try_admit(limit, 1)).admitted
    provider = CountingModel()
    llm = LLMActivities(provider, PriceTable.load(None), rate_limiter=limiter)
    async with worker_with(dev_client, settings, [llm.complete, *Recorder().activities()]):
        handle = await dev_client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="Say hello.", tools=[], model=model, max_iterations=1),
            id=f"agent-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        await status_until(handle, lambda s: s.waiting_for is not None, timeout_s=10)
        cancelled_at = time.monotonic()
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as ended:
            await handle.result()
        took = time.monotonic() - cancelled_at
    # The waiting call ended as a cancelled model call (`LLMCallCancelled`), as one in flight does.
    cause = ended.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == LLM_CALL_CANCELLED
    assert took < 20  # the wait would have lasted a minute: the cancellation ended it
    assert provider.calls == 0  # the call was never sent
