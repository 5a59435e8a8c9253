"""The shared rate limit against a real chaos server: `llmock serve --rpm 15` (PyPI `llmock`, an
OpenAI-compatible server whose bucket refuses past its limit with a 429 and the real wait), ten
agents on two real `python -m worker` processes sharing one spend database.

- With `LLM_RATE_LIMITS` just below llmock's limit the server sends no 429, every agent completes,
  and once the first minute's burst is spent the calls go out at the limit's pace.
- Without it the same agents do get 429s (the control: the test above could fail).
- A provider's 429 with `retry-after` pauses the model for every worker that shares the database.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.llm.activity import LLMActivities
from activities.llm.error_types import RATE_LIMITED
from activities.llm.pricing import PriceTable
from activities.llm.providers.openai import OpenAICompatibleProvider
from activities.spend.rate_limit import RateLimiter, SqliteBuckets
from common.contracts.llm import LLMRequest, Message
from common.rate_limits import parse_rate_limits
from tests.chaos.processes import WorkerProcess, clean_environment
from tests.integration.test_scripted_worker import state_in
from tests.spend.llmock_server import LlmockServer
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, AgentResult

pytestmark = pytest.mark.timeout(150)

REPO = Path(__file__).resolve().parents[2]
MODEL = "gpt-4o-mini"
SERVER_RPM = 15  # llmock: 15 at once, then one every 4 s
LIMIT_RPM = 14  # ours: just below, so that no timing jitter between the two clocks draws a 429
AGENTS = 10  # two model calls each (a tool call, then the answer): 20 calls, 5 more than a burst


@pytest.fixture
def llmock() -> Iterator[LlmockServer]:
    server = LlmockServer(rpm=SERVER_RPM)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def start_workers(
    dev_server_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, llmock: LlmockServer
) -> AsyncIterator[object]:
    """Starts two workers on the OpenAI-compatible provider pointed at llmock (with these rate limits)."""
    workers: list[WorkerProcess] = []

    async def start(rate_limits: str) -> None:
        env = clean_environment(
            {
                "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
                "TEMPORAL_TASK_QUEUE": task_queue,
                "LLM_PROVIDER": "openai",
                "OPENAI_BASE_URL": f"{llmock.url}/v1",
                "OPENAI_API_KEY": "sk-test",  # llmock counts per API key: both workers share one
                "LLM_MODEL": MODEL,
                "LLM_RATE_LIMITS": rate_limits,
                "SPEND_LEDGER_PATH": str(tmp_path / "spend.sqlite3"),  # one host: one shared file
                "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                **state_in(tmp_path),
            }
        )
        workers.extend(WorkerProcess(env, REPO) for _ in range(2))
        await asyncio.gather(*(worker.wait_ready() for worker in workers))

    try:
        yield start
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers))


async def _start_agents(client: Client, task_queue: str) -> list[WorkflowHandle[AgentWorkflow, AgentResult]]:
    run = uuid.uuid4().hex[:8]
    return [
        await client.start_workflow(
            AgentWorkflow.run,
            # Each its own prompt: llmock tells calls apart by their request body.
            AgentInput(goal=f"Agent {i} of {run}: what is {i} * 7?", tools=["calculator"], max_iterations=3),
            id=f"agent-{run}-{i}",
            task_queue=task_queue,
        )
        for i in range(AGENTS)
    ]


async def test_ten_agents_on_two_workers_stay_under_the_servers_limit(
    dev_client: Client, task_queue: str, llmock: LlmockServer, start_workers: object
) -> None:
    limits = json.dumps({f"openai/{MODEL}": {"rpm": LIMIT_RPM}})
    await start_workers(limits)  # type: ignore[operator]
    handles = await _start_agents(dev_client, task_queue)
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=90)
    assert [r.outcome for r in results] == ["completed"] * AGENTS

    calls = llmock.requests()
    assert [c["status"] for c in calls if c["status"] != 200] == []  # no 429, nor anything else
    assert len(calls) >= 2 * AGENTS
    report = llmock.report()
    assert report["faults_injected"] == 0 and report["errors"] == 0, report
    # Past the burst the calls went out at the limit's pace: the last ones one every 60/14 s, not
    # slower (within 10%: the limit is used, not just kept) and not faster.
    starts = [c["started_at"] for c in calls]
    paced = starts[LIMIT_RPM:]
    interval = (paced[-1] - paced[0]) / (len(paced) - 1)
    assert 0.9 * 60 / LIMIT_RPM <= interval <= 1.1 * 60 / LIMIT_RPM, [round(s - starts[0], 2) for s in starts]


async def test_without_the_limit_the_same_agents_get_429s(
    dev_client: Client, task_queue: str, llmock: LlmockServer, start_workers: object
) -> None:
    await start_workers("")  # type: ignore[operator]
    handles = await _start_agents(dev_client, task_queue)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not any(c["status"] == 429 for c in llmock.requests()):
        assert loop.time() < deadline, "llmock never refused a request: the control proves nothing"
        await asyncio.sleep(0.2)
    assert llmock.report()["faults_injected"] >= 1
    for handle in handles:  # the point is made; the retries would take another minute
        try:
            await handle.terminate("control done")
        except RPCError:
            pass  # this one completed already


async def test_a_providers_429_pauses_the_model_for_every_worker(tmp_path: Path) -> None:
    server = LlmockServer(rpm=1)
    server.start()
    try:
        path = tmp_path / "spend.sqlite3"
        limits = parse_rate_limits(f'{{"openai/{MODEL}": {{}}}}')  # no local limit: only shared pauses
        provider = OpenAICompatibleProvider(
            base_url=f"{server.url}/v1", api_key="sk-test", default_model=MODEL
        )
        llm = LLMActivities(
            provider, PriceTable.load(None), rate_limiter=RateLimiter(limits, SqliteBuckets(path))
        )
        request = LLMRequest(messages=[Message.user_text("first")], max_tokens=16)
        assert (await llm.complete(request)).text()
        with pytest.raises(ApplicationError) as refused:
            await llm.complete(request.model_copy(update={"messages": [Message.user_text("second")]}))
        assert refused.value.type == RATE_LIMITED and refused.value.next_retry_delay is not None
        retry_after = refused.value.next_retry_delay.total_seconds()
        # Another worker on the same database: the model is closed to it until the retry-after.
        other = RateLimiter(limits, SqliteBuckets(path))
        limit = other.limit_for("openai", MODEL)
        assert limit is not None
        admission = await other.try_admit(limit, 10)
        assert (admission.admitted, admission.waiting_for) == (False, "paused")
        assert retry_after - 2 < admission.wait_s <= retry_after
    finally:
        server.stop()
