"""End to end through the product's own processes: a `python -m worker` process against the session
dev server, once per LLM provider (the offline model, and the real `anthropic` SDK against the local
Messages-API server). Per provider, concurrently: a research run with an approver (approved by the
`approve` Update, delivered to a real local HTTP receiver) and two agent runs with tools (calculator,
search_docs). Checked: results, per-step usage and cost (priced again here from each step's own
tokens), exactly one request per completed LLM step at the model server, one delivery."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.llm.models import Usage
from activities.llm.pricing import PriceTable
from common.client import connect
from common.settings import Settings, try_load_settings
from starter import api
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.receivers import HttpReceiver
from tests.starter.runs import pending_approval
from workflows.models import AgentInput, AgentResult, ResearchInput, ResearchResult, StepRecord

# Variables of the developer's shell that would change what the worker does.
_FOREIGN = ("LLM_", "ANTHROPIC_", "OPENAI_", "PAYLOAD_", "OTEL_", "SMTP_", "DEDUPE_", "TEMPORAL_")
PRICES = PriceTable.load()


@dataclass
class Deployment:
    client: Client  # the product's client: same converter (payload store) as the worker
    server: AnthropicServer | None  # the model server the worker talks to, if any


def _worker_env(settings: Settings, server: AnthropicServer | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(_FOREIGN)}
    env.update(
        TEMPORAL_ADDRESS=settings.temporal_address,
        TEMPORAL_TASK_QUEUE=settings.temporal_task_queue,
        PAYLOAD_STORE_DIR=str(settings.payload_store_dir),
        DEDUPE_LEDGER_PATH=str(settings.dedupe_ledger_path),
        WORKER_GRACEFUL_SHUTDOWN_S="5",
        LLM_PROVIDER="offline",
        EGRESS_ALLOW_PRIVATE=settings.egress_allow_private,  # the webhook receiver is on loopback
    )
    if server is not None:
        env.update(LLM_PROVIDER="anthropic", ANTHROPIC_API_KEY="test", ANTHROPIC_BASE_URL=server.base_url)
    return env


@pytest.fixture(params=["offline", "anthropic"])
def model_server(request: pytest.FixtureRequest) -> Iterator[AnthropicServer | None]:
    if request.param == "offline":
        yield None
        return
    with AnthropicServer() as server:
        yield server


@pytest.fixture
def e2e_settings(dev_server_env: WorkflowEnvironment, task_queue: str, tmp_path: Path) -> Settings:
    return try_load_settings(
        temporal_address=dev_server_env.client.service_client.config.target_host,
        temporal_task_queue=task_queue,
        llm_provider="offline",
        payload_store_dir=tmp_path / "payloads",
        dedupe_ledger_path=tmp_path / "ledger.sqlite3",
        egress_allow_private="127.0.0.1,::1",  # the webhook receiver is on loopback
        _env_file=None,
    )


@pytest.fixture
def worker_process(
    e2e_settings: Settings, model_server: AnthropicServer | None, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """One worker process per provider; it must stop cleanly on SIGTERM after the runs."""
    log_file = tmp_path / "worker.log"
    with open(log_file, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker"], env=_worker_env(e2e_settings, model_server), stderr=log
        )
        try:
            yield process
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, log_file.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest_asyncio.fixture
async def deployment(
    e2e_settings: Settings, model_server: AnthropicServer | None, worker_process: subprocess.Popen[bytes]
) -> Deployment:
    return Deployment(await connect(e2e_settings), model_server)


def _check_costs(steps: list[StepRecord]) -> None:
    llm = [s for s in steps if s.kind == "llm"]
    assert llm
    for step in llm:
        assert step.model and step.input_tokens > 0 and step.output_tokens > 0, step
        usage = Usage(
            input_tokens=step.input_tokens,
            output_tokens=step.output_tokens,
            cache_read_tokens=step.cache_read_tokens,
            cache_write_tokens=step.cache_write_tokens,
        )
        assert step.cost_usd == pytest.approx(PRICES.cost(step.model, usage)), step
        assert step.cost_usd > 0


def _check_totals(steps: list[StepRecord], cost_usd: float, input_tokens: int) -> None:
    assert cost_usd == pytest.approx(sum(s.cost_usd for s in steps))
    assert input_tokens == sum(s.input_tokens for s in steps)


def _check_requests(server: AnthropicServer | None, workflow_id: str, steps: list[StepRecord]) -> None:
    if server is None:
        return
    seen = Counter(r.step for r in server.requests if r.step.startswith(f"{workflow_id}/"))
    assert seen == Counter(f"{workflow_id}/{s.step}" for s in steps if s.kind == "llm")


async def _research(deployment: Deployment, task_queue: str, receiver: HttpReceiver) -> None:
    client = deployment.client
    handle = await api.start_research(
        client,
        ResearchInput(
            topic="tidal power", max_subtopics=2, approvers=["ana"], deliver_to=f"{receiver.url}/reports"
        ),
        task_queue=task_queue,
    )
    pending = await pending_approval(client, handle.id)
    assert "tidal power" in pending.action and pending.approvers == ["ana"]
    decision = await api.approve(client, handle.id, "ana", "ship it", action_hash=pending.action_hash)
    assert decision is not None and decision.approved and decision.via == "update"

    result = await handle.result()
    assert isinstance(result, ResearchResult)
    assert result.outcome == "completed" and len(result.subtopics) == 2 and not result.failed_subtopics
    assert result.approval is not None and result.approval.approver == "ana"
    assert result.delivery is not None and not result.delivery.duplicate
    names = [s.step for s in result.steps]  # the subtopics finish in any order
    assert names[0] == "plan" and sorted(names[1:3]) == ["research 1", "research 2"]
    assert names[3:] == ["synthesize", "approval 1", "deliver"]
    _check_costs(result.steps)
    _check_totals(result.steps, result.cost_usd, result.usage.input_tokens)
    _check_requests(deployment.server, handle.id, result.steps)

    key = f"{handle.id}/{handle.first_execution_run_id}/deliver"  # one run chain
    assert receiver.accepted_keys() == Counter({key: 1}) and receiver.attempts(key) == 1
    body = receiver.accepted[0].json()
    assert body["data"]["report"] == result.report and body["data"]["workflow_id"] == handle.id


async def _agent(deployment: Deployment, task_queue: str, goal: str, tool: str) -> AgentResult:
    handle = await api.start_agent(
        deployment.client,
        AgentInput(goal=goal, tools=["calculator", "search_docs"], max_iterations=4),
        task_queue=task_queue,
    )
    result = await handle.result()
    assert isinstance(result, AgentResult)
    assert result.outcome == "completed" and result.iterations == 2
    assert [s.step for s in result.steps] == ["llm step 1", f"tool 1.1 {tool}", "llm step 2"]
    assert all(s.ok for s in result.steps)
    _check_costs(result.steps)
    _check_totals(result.steps, result.cost_usd, result.usage.input_tokens)
    _check_requests(deployment.server, handle.id, result.steps)
    return result


async def test_research_and_agents_end_to_end(
    deployment: Deployment, task_queue: str, http_receiver: HttpReceiver
) -> None:
    _, calculated, searched = await asyncio.gather(
        _research(deployment, task_queue, http_receiver),
        _agent(deployment, task_queue, "What is 12 * 7?", "calculator"),
        _agent(deployment, task_queue, "How are approvals decided for workflows?", "search_docs"),
    )
    assert "84" in calculated.answer
    assert searched.sources and searched.sources[0].startswith("search_docs(")
