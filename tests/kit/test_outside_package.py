"""The kit is enough for a package of one's own (issue 24, done when): a package made in a temporary
folder outside the checkout declares a tool (`@tool`), a workflow (`KitWorkflow` + `RunContext`) and
an `Extension` from public kit names only, and then
- its own tests pass under pytest on the kit's plugin (loaded through its entry point: the package
  has no conftest.py) with `ScriptedModel`, `wait_for_approval` and `decide`, whatever the shell says;
- mypy (strict) passes on it: the product's packages are typed (py.typed);
- a real `python -m worker` loads it through `WORKER_PLUGINS` and, with `LLM_PROVIDER=scripted`, an
  agent loop started with `python -m starter agent ... --tools lookup_order --wait` calls its tool."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

import workflows
from tests.chaos.processes import WorkerProcess, clean_environment
from tests.starter.cli import cli_env, run_cli

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
# Where the product is importable from (this checkout, installed editable): mypy cannot follow the
# editable install's import hook, so it is given the folder, as `editable_mode=compat` would.
PRODUCT_ROOT = Path(workflows.__file__).resolve().parent.parent

PYPROJECT = """\
[project]
name = "refunds"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["ai-workflows[testing]"]

[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[tool.setuptools.packages.find]
include = ["refunds*"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"

[tool.mypy]
strict = true
"""

TOOLS = '''\
"""The package's tool: an order by id (read-only)."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field

from activities.kit import ToolError, tool

ORDERS = {"A-1": {"order_id": "A-1", "total_usd": 42.0, "times_charged": 2}}


class LookupOrderInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(min_length=1, max_length=40, description="The order's id, e.g. A-1")


@tool(description="Look up an order by id: its total and how often it was charged. Read-only.")
async def lookup_order(params: LookupOrderInput) -> str:
    order = ORDERS.get(params.order_id)
    if order is None:
        raise ToolError(f"no order {params.order_id}")
    return json.dumps(order, sort_keys=True)
'''

WORKFLOW = '''\
"""RefundWorkflow: look the order up, ask the model for a verdict, a person decides the refund."""

from __future__ import annotations

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from refunds.tools import lookup_order
    from workflows.kit import (
        KitInput,
        KitWorkflow,
        LLMRequest,
        Message,
        RunContext,
        StepRecord,
        UsageTotals,
        action_hash,
        proposed_action,
    )


class RefundInput(KitInput):
    order_id: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class RefundResult(BaseModel):
    order: str
    verdict: str
    refunded: bool
    steps: list[StepRecord] = Field(default_factory=list)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0


@workflow.defn(name="RefundWorkflow")
class RefundWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: RefundInput) -> None:
        self.ctx = RunContext(params)

    @workflow.run
    async def run(self, params: RefundInput) -> RefundResult:
        ctx = self.ctx
        ctx.offer_tools([lookup_order.name])
        order = await ctx.call_tool(lookup_order.name, {"order_id": params.order_id})
        verdict = await ctx.llm(
            LLMRequest(
                system="Decide whether the order gets a refund. Answer in one line.",
                messages=[Message.user_text(f"{params.reason}\\n{order.content}")],
                step_kind="refund_verdict",
            )
        )
        refund = {"order_id": params.order_id, "verdict": verdict.text()}
        record = await ctx.request_approval(
            proposed_action("refund", "refund", refund, targets=("order_id",)), action_hash("refund", refund)
        )
        await ctx.finish("refunded" if record.approved else "declined")
        return RefundResult(
            order=order.content, verdict=verdict.text(), refunded=record.approved, **ctx.totals()
        )
'''

EXTENSION = '''\
"""What the package adds to a worker: `WORKER_PLUGINS=refunds.extension:EXTENSION`."""

from __future__ import annotations

from refunds.tools import lookup_order
from refunds.workflow import RefundWorkflow
from worker.plugin import Extension

EXTENSION = Extension(name="refunds", workflows=[RefundWorkflow], tools=[lookup_order])
'''

TEST_IT = '''\
"""The package's tests, on the ai_workflows pytest plugin's fixtures."""

from __future__ import annotations

import json

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from refunds.extension import EXTENSION
from refunds.workflow import RefundInput, RefundResult, RefundWorkflow
from workflows.kit.pytest_plugin import KitWorkerFactory, decide, wait_for_approval
from workflows.kit.testing import ScriptedModel

VERDICT = {"match": {"step_kind": "refund_verdict"}, "reply": {"text": "Refund: charged twice."}}


async def refund(
    env: WorkflowEnvironment, task_queue: str, id: str
) -> WorkflowHandle[RefundWorkflow, RefundResult]:
    return await env.client.start_workflow(
        RefundWorkflow.run,
        RefundInput(order_id="A-1", reason="I was charged twice", approvers=["ana"]),
        id=id,
        task_queue=task_queue,
    )


async def test_an_approved_refund(kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory) -> None:
    model = ScriptedModel([VERDICT])
    async with kit_worker(extensions=[EXTENSION], model=model) as worker:
        handle = await refund(kit_env, worker.task_queue, "refund-approved")
        pending = await wait_for_approval(handle)
        record = await decide(handle, "ana", comment="duplicate charge")
        result = await handle.result()
    assert pending.proposed is not None and pending.proposed.fields[0].name == "order_id"
    assert record.approved and record.action_hash == pending.action_hash
    assert result.refunded and result.verdict == "Refund: charged twice."
    assert json.loads(result.order)["times_charged"] == 2
    (asked,) = model.requests
    assert "times_charged" in asked.messages[-1].model_dump_json()  # the tool's answer reached the model


async def test_a_declined_refund(kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory) -> None:
    async with kit_worker(extensions=[EXTENSION], model=ScriptedModel([VERDICT])) as worker:
        handle = await refund(kit_env, worker.task_queue, "refund-declined")
        record = await decide(handle, "ana", approved=False, comment="not ours")
        result = await handle.result()
    assert not record.approved and not result.refunded


async def test_an_agent_calls_the_tool(kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory) -> None:
    model = ScriptedModel(
        [
            {
                "match": {"step_kind": "agent", "turn": 0},
                "reply": {"tool_calls": [{"name": "lookup_order", "input": {"order_id": "A-1"}}]},
            },
            {"match": {"contains": "times_charged"}, "reply": {"text": "A-1 was charged twice."}},
        ]
    )
    async with kit_worker(extensions=[EXTENSION], model=model) as worker:
        handle = await kit_env.client.start_workflow(
            "AgentWorkflow",
            {"goal": "Was order A-1 charged twice?", "tools": ["lookup_order"]},
            id="agent-1",
            task_queue=worker.task_queue,
        )
        result = await handle.result()
    assert result["answer"] == "A-1 was charged twice."
    assert [step["step"] for step in result["steps"] if step["kind"] == "tool"] == ["tool 1.1 lookup_order"]
'''

# What the real worker's model does in the agent loop: call the package's tool, then answer from it.
SCRIPT = [
    {
        "match": {"step_kind": "agent", "turn": 0},
        "reply": {"tool_calls": [{"name": "lookup_order", "input": {"order_id": "A-1"}}]},
    },
    {"match": {"contains": "times_charged"}, "reply": {"text": "Order A-1 was charged 2 times."}},
]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package, in a folder of its own outside the checkout."""
    root = tmp_path_factory.mktemp("refunds-package")
    assert not root.resolve().is_relative_to(REPO)
    files = {
        "pyproject.toml": PYPROJECT,
        "refunds/__init__.py": '"""Refunds: a tool and a workflow of our own on the ai-workflows kit."""\n',
        "refunds/tools.py": TOOLS,
        "refunds/workflow.py": WORKFLOW,
        "refunds/extension.py": EXTENSION,
        "tests/test_it.py": TEST_IT,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def package_env(package: Path, **extra: str) -> dict[str, str]:
    """The shell of someone working on the package: only it on PYTHONPATH, nothing of pytest's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "PYTHONPATH", "MYPYPATH"))
    }
    return {**env, "PYTHONPATH": str(package), **extra}


def test_its_tests_pass_on_the_kits_plugin(package: Path) -> None:
    # Settings a developer's shell may hold: the kit's worker reads none of them.
    hostile = {
        "LLM_PROVIDER": "anthropic",
        "ANTHROPIC_API_KEY": "sk-of-the-shell",
        "PAYLOAD_KEYS": "not a key ring",
        "TEMPORAL_TASK_QUEUE": "the-shells-queue",
        "WORKER_PLUGINS": "nowhere:NOTHING",
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        env=package_env(package, **hostile),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not (package / "conftest.py").exists() and not (package / "tests" / "conftest.py").exists()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(r"^3 passed\b", run.stdout, re.MULTILINE), run.stdout[-2000:]


def test_mypy_strict_passes_on_it(package: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "refunds", "tests", "--cache-dir", str(package / ".mypy_cache")],
        cwd=package,
        env=package_env(package, PYTHONPATH=f"{package}{os.pathsep}{PRODUCT_ROOT}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Success: no issues found in 5 source files" in run.stdout


@pytest_asyncio.fixture
async def scripted_worker(
    dev_server_env: WorkflowEnvironment, task_queue: str, package: Path, tmp_path: Path
) -> AsyncIterator[tuple[WorkerProcess, dict[str, str]]]:
    """`python -m worker` with the package as WORKER_PLUGINS and the scripted model; the starter's
    environment for it."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    address = dev_server_env.client.service_client.config.target_host
    state = {
        "WORKER_LEASE_DIR": str(tmp_path / "workers"),
        "DEDUPE_LEDGER_PATH": str(tmp_path / "ledger.sqlite3"),
        "INDEX_PATH": str(tmp_path / "index.sqlite3"),
        "RUN_STATE_KEY_FILE": str(tmp_path / "run-state.key"),
        "PAYLOAD_STORE_DIR": str(tmp_path / "payloads"),
        "DELIVERY_FILE_ROOT": str(tmp_path / "deliveries"),
    }
    # The starter checks tool names against the extensions it loads: both see the package.
    plugin = {"PYTHONPATH": str(package), "WORKER_PLUGINS": "refunds.extension:EXTENSION"}
    worker = WorkerProcess(
        clean_environment(
            {
                **plugin,
                "TEMPORAL_ADDRESS": address,
                "TEMPORAL_TASK_QUEUE": task_queue,
                "LLM_PROVIDER": "scripted",
                "LLM_SCRIPT_FILE": str(script),
                "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                **state,
            }
        ),
        tmp_path,
    )
    try:
        await worker.wait_ready()
        yield (
            worker,
            {**cli_env(address, task_queue), **plugin, "PAYLOAD_STORE_DIR": state["PAYLOAD_STORE_DIR"]},
        )
    finally:
        await worker.stop()


async def test_a_real_worker_calls_its_tool_in_an_agent_loop(
    scripted_worker: tuple[WorkerProcess, dict[str, str]],
) -> None:
    worker, env = scripted_worker
    registered = next(line for line in worker.lines if "registered activities: " in line)
    assert "tool.lookup_order" in registered and any("provider=scripted" in line for line in worker.lines)

    run = await run_cli("agent", "Was order A-1 charged twice?", "--tools", "lookup_order", "--wait", env=env)

    assert run.returncode == 0, run.stderr
    assert any(line.startswith("  done: tool 1.1 lookup_order [tool]") for line in run.stdout.splitlines())
    # The script's last rule matches on the tool's answer only: the real call's result reached the model.
    assert "Order A-1 was charged 2 times." in run.stdout.split("run ended: completed", 1)[1]
