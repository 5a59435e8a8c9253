"""The eval tests' world (fixture `world`, registered in conftest.py): a real `python -m worker` on the dev server whose model is a double that
counts requests (an OpenAI-compatible server, tests/eval/agent_double.py), a real webhook receiver,
and three recorded agent runs, one of them with an approved webhook."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from starter import api
from tests.chaos.processes import WorkerProcess, clean_environment
from tests.eval.agent_double import AgentDouble, Plan
from tests.fakes.receivers import HttpReceiver
from tests.integration.test_scripted_worker import state_in
from tests.starter.cli import cli_env
from workflows.kit.pytest_plugin import decide
from workflows.models import AgentInput

REPO = Path(__file__).resolve().parents[2]
ORIGINAL_MODEL = "eval-original-model"
CANDIDATE_MODEL = "eval-candidate-model"
PRICES = {  # USD per million tokens: both sides have a cost to report
    ORIGINAL_MODEL: {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3},
    CANDIDATE_MODEL: {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.1},
}
MULTIPLY = "What is 17 * 23?"
ADD = "What is 6 * 7?"
NOTIFY = "Tell the hook that the build passed"


@dataclass
class EvalWorld:
    client: Client
    double: AgentDouble
    receiver: HttpReceiver
    cli: dict[str, str]  # the starter's environment


@pytest_asyncio.fixture
async def world(
    dev_server_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, http_receiver: HttpReceiver
) -> AsyncIterator[EvalWorld]:
    plans = {
        MULTIPLY: Plan("calculator", {"expression": "17 * 23"}),
        ADD: Plan("calculator", {"expression": "6 * 7"}),
        NOTIFY: Plan("send_webhook", {"url": http_receiver.url, "payload": {"build": "passed"}}),
    }
    changed = {(CANDIDATE_MODEL, ADD): Plan("calculator", {"expression": "6 + 7"})}
    pricing = tmp_path / "prices.json"
    pricing.write_text(json.dumps(PRICES))
    address = dev_server_env.client.service_client.config.target_host
    with AgentDouble(plans, changed) as double:
        worker = WorkerProcess(
            clean_environment(
                {
                    "TEMPORAL_ADDRESS": address,
                    "TEMPORAL_TASK_QUEUE": task_queue,
                    "LLM_PROVIDER": "openai",
                    "OPENAI_BASE_URL": double.api_base,
                    "OPENAI_API_KEY": "test-key",
                    "LLM_MODEL": ORIGINAL_MODEL,
                    "LLM_PRICING_FILE": str(pricing),
                    "EGRESS_ALLOW_PRIVATE": "127.0.0.1",  # the webhook receiver is on loopback
                    "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                    **state_in(tmp_path),
                }
            ),
            REPO,
        )
        try:
            await worker.wait_ready()
            cli = {**cli_env(address, task_queue), "PAYLOAD_STORE_DIR": str(tmp_path / "payloads")}
            yield EvalWorld(dev_server_env.client, double, http_receiver, cli)
        finally:
            await worker.stop()


async def record_runs(world: EvalWorld, task_queue: str) -> list[str]:
    """The three original runs, the webhook's approved by ana; their workflow ids."""
    ids: list[str] = []
    for goal, tools, approvers in (
        (MULTIPLY, ["calculator"], []),
        (ADD, ["calculator"], []),
        (NOTIFY, ["send_webhook"], ["ana"]),
    ):
        handle = await api.start_workflow(
            world.client,
            api.AGENT_WORKFLOW,
            AgentInput(goal=goal, tools=tools, approvers=approvers),
            task_queue=task_queue,
            workflow_id=f"eval-source-{uuid.uuid4().hex[:8]}",
        )
        if approvers:
            await decide(handle, "ana")
        await handle.result()
        ids.append(handle.id)
    return ids
