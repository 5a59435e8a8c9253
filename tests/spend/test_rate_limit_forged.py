"""The Signal `rate_limit_wait` is one any client may send. A forged one must not make a run's
`status` lie about steps the run is not running, nor grow it without bound: only a model step the
run has in flight can be shown waiting. Real dev server, the product's worker, the real
`llm.complete` waiting for a shared rate limit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.offline import OfflineProvider
from activities.spend.rate_limit import RateLimiter, SqliteBuckets
from common.contracts.waits import RATE_LIMIT_WAIT_SIGNAL, RateLimitWait
from common.rate_limits import parse_rate_limits
from common.settings import Settings
from tests.workflow.doubles import Recorder
from tests.workflow.support import status_until, worker_with
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, WorkflowStatus


async def test_forged_waits_for_steps_the_run_is_not_running_are_not_shown(
    dev_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    model = f"offline-{uuid.uuid4().hex[:8]}"
    limits = parse_rate_limits(f'{{"offline/{model}": {{"rpm": 1}}}}')  # the next slot: in a minute
    limiter = RateLimiter(limits, SqliteBuckets(tmp_path / "spend.sqlite3"))
    limit = limiter.limit_for("offline", model)
    assert limit is not None and (await limiter.try_admit(limit, 1)).admitted
    llm = LLMActivities(OfflineProvider(), PriceTable.load(None), rate_limiter=limiter)
    async with worker_with(dev_client, settings, [llm.complete, *Recorder().activities()]):
        handle = await dev_client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="Say hello.", tools=[], model=model, max_iterations=1),
            id=f"agent-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        real = await status_until(handle, lambda s: s.waiting_for is not None, timeout_s=10)
        assert real.waiting_for is not None and "(step llm step 1)" in real.waiting_for
        until = datetime.now(UTC) + timedelta(days=365)
        for number in range(40):  # steps this run never made, each with a long name
            forged = RateLimitWait(step=f"forged {number} " + "x" * 5000, limit="evil/model", until=until)
            await handle.signal(RATE_LIMIT_WAIT_SIGNAL, forged)
        # A query sees every signal sent before it (the server answers after they are handled).
        status = await handle.query("status", result_type=WorkflowStatus)
        await handle.cancel()
    assert status.waiting_for == real.waiting_for  # only the step in flight, as the worker told it
    assert "forged" not in (status.waiting_for or "") and "evil" not in (status.waiting_for or "")
