"""`AiWorkflowsPlugin`: one temporalio plugin that wires a worker the product's way — the data
converter (pydantic, payload store, encryption), the interceptors (tool spans, liveness heartbeats,
tool resources), every activity and workflow of the product and of its extensions. `python -m worker`
is built on it; a worker of your own can use it too:

    client = await connect(settings)                    # common.client: converter, TLS, tracing
    worker = Worker(client, task_queue="ai-workflows", plugins=[AiWorkflowsPlugin(settings)])

Extensions add workflows and tools without editing this repo: a package names an `Extension` in the
entry-point group `ai_workflows.plugins`, or the setting `WORKER_PLUGINS` lists `module:attribute`s.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError
from temporalio.plugin import SimplePlugin
from temporalio.worker import Interceptor, Worker, WorkerConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.approval_notify import ApprovalNotifier
from activities.approval_policy import APPROVAL_POLICY_ACTIVITIES
from activities.delivery.activity import DeliveryActivities
from activities.fork import ForkActivities
from activities.llm.factory import build_llm_activities
from activities.mcp.activities import MCP_ACTIVITIES, load_mcp_calls
from activities.resources import ResourcesInterceptor, WorkerResources
from activities.retrieval.activities import RETRIEVAL_ACTIVITIES
from activities.run_state import RUN_STATE_ACTIVITIES
from activities.tool_tracing import ToolTracingInterceptor
from activities.tools import builtin as _builtin  # noqa: F401 - declares (registers) the built-in tools
from activities.tools.declare import ToolDefinition, registry
from common.converter import build_data_converter
from common.settings import Settings
from worker.liveness import LivenessHeartbeats, stream_windows
from worker.sandbox_runner import CompiledOnceSandboxRunner

__all__ = ["ENTRY_POINT_GROUP", "AiWorkflowsPlugin", "Extension", "PluginLoadError", "load_extensions"]

ENTRY_POINT_GROUP = "ai_workflows.plugins"
# The longest gap between two heartbeats the worker sends for a running activity: a quarter of the
# liveness heartbeat timeout (workflows/activity_options.py), so a live worker can stall for three
# quarters of it before Temporal takes it for dead.
HEARTBEAT_SEND_INTERVAL = timedelta(milliseconds=2500)


@dataclass(frozen=True)
class Extension:
    """What a package adds to the worker: its workflows, its tools (declared with `@tool`) and any
    other activities its workflows call."""

    name: str
    workflows: Sequence[type] = ()
    tools: Sequence[ToolDefinition] = ()
    activities: Sequence[Callable[..., Any]] = field(default_factory=tuple)


class PluginLoadError(Exception):
    """An extension could not be loaded; the message is one line naming it."""


def load_extensions(settings: Settings) -> list[Extension]:
    """The extensions of the installed packages' entry points, then those of WORKER_PLUGINS."""
    found: list[tuple[str, Callable[[], Any]]] = [
        (f"entry point {point.name} ({point.value})", point.load)
        for point in entry_points(group=ENTRY_POINT_GROUP)
    ]
    for spec in (part.strip() for part in settings.worker_plugins.split(",")):
        if spec:
            found.append((f"WORKER_PLUGINS entry {spec!r}", partial(_import_attribute, spec)))
    extensions: list[Extension] = []
    for origin, load in found:
        try:
            loaded = load()
        except Exception as error:
            raise PluginLoadError(
                f"plugin {origin} failed to load: {type(error).__name__}: {error}"
            ) from None
        if not isinstance(loaded, Extension):
            raise PluginLoadError(
                f"plugin {origin} is a {type(loaded).__name__}, not an Extension (worker.plugin.Extension)"
            )
        extensions.append(loaded)
    return extensions


def _import_attribute(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError("expected module:attribute")
    return getattr(import_module(module_name), attribute)


def product_workflows() -> list[type]:
    from workflows.registry import WORKFLOWS

    return list(WORKFLOWS)


def product_activities(settings: Settings) -> list[Callable[..., Any]]:
    """The product's own activities besides the tools: the model, report delivery, escalation,
    MCP tool servers' discovery and calls, the grounded-answer index (scan, index, retrieve) and
    the seals on the state runs carry across continue-as-new."""
    llm = build_llm_activities(settings)
    deliveries = DeliveryActivities.from_settings(settings)
    notifier = ApprovalNotifier.from_settings(settings)
    # What only a configured feature uses, imported now rather than in its first activity.
    if settings.mcp_servers_file:
        load_mcp_calls()  # the `mcp` SDK
    if settings.embeddings_base_url:
        import_module("numpy")  # dense retrieval (activities/retrieval/dense.py)
    return [
        llm.complete,
        deliveries.deliver,
        notifier.notify_escalation,
        *MCP_ACTIVITIES,
        *RETRIEVAL_ACTIVITIES,
        *RUN_STATE_ACTIVITIES,
        *APPROVAL_POLICY_ACTIVITIES,
    ]


# Passed through the workflow sandbox: imported once, not per run (they hold no per-run state; the
# run's state is in each workflow's `RunContext`). A user's workflow module imports them plainly.
KIT_MODULES = (
    "activities",
    "common",
    "workflows.kit",
    "workflows.models",
    "workflows.actions",
    "workflows.approval",
    "workflows.progress",
    "workflows.activity_options",
    "workflows.stream_topics",
    "pydantic",
    # Signed approvals are verified in workflow code; its Rust extension must never be imported twice.
    "cryptography",
)
# What `Worker(...)` sets an option to when its creator did not: only those are the plugin's to set.
_SDK_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(Worker.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


class AiWorkflowsPlugin(SimplePlugin):
    def __init__(
        self,
        settings: Settings,
        *,
        extensions: Sequence[Extension] | None = None,
        activities: Sequence[Callable[..., Any]] | None = None,
        workflows: Sequence[type] | None = None,
        extra_interceptors: Sequence[Interceptor] = (),
    ) -> None:
        """`extensions`: default, those `load_extensions` finds. `activities` / `workflows` replace
        the product's own (tests, `--role`); the extensions' are added either way."""
        self.settings = settings
        self.extensions = list(load_extensions(settings) if extensions is None else extensions)
        self.resources = WorkerResources(settings)
        own_workflows = list(product_workflows() if workflows is None else workflows)
        own_activities = list(
            [*product_activities(settings), *(t.activity for t in registry.all())]
            # registry: BUILTIN_TOOLS and every tool the extensions' modules declared
            if activities is None
            else activities
        )
        for extension in self.extensions:
            # `workflows=[]` / `activities=[]` is a role (`--role activities|workflows`): that process
            # takes none of its kind of task, the extensions' included.
            if workflows is None or workflows:
                own_workflows += [w for w in extension.workflows if w not in own_workflows]
            if activities is None or activities:
                own_activities += [t.activity for t in extension.tools if t.activity not in own_activities]
                own_activities += [a for a in extension.activities if a not in own_activities]
        if activities is None or activities:
            # A fork's source steps (workflows/kit/fork.py), replayed with this worker's workflows (an
            # activities-only worker: every workflow this process knows).
            known = own_workflows or [
                *product_workflows(),
                *(w for e in self.extensions for w in e.workflows),
            ]
            own_activities.append(ForkActivities(known, KIT_MODULES).recorded_steps)
        interceptors: list[Interceptor] = [
            ToolTracingInterceptor(),
            LivenessHeartbeats(stream_windows(settings)),
            ResourcesInterceptor(self.resources),
            *extra_interceptors,
        ]
        super().__init__(
            "ai-workflows",
            # Only for a client connected with this plugin (`connect` sets the same converter).
            data_converter=lambda _existing: build_data_converter(settings),
            interceptors=interceptors,
            activities=own_activities,
            workflows=own_workflows,
            run_context=self._resources_open,
        )

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """The worker options the product needs, each only where the worker's creator left it at the
        SDK's default; ValidationError as a workflow failure type (a bad input fails the run instead of
        retrying its first task); the kit's modules passed through the sandbox (no user workflow has
        to wrap its kit imports)."""
        config = super().configure_worker(config)
        settings = self.settings
        wanted: dict[str, Any] = {
            "max_concurrent_activities": settings.worker_max_concurrent_activities,
            # Also the size of the SDK's workflow-task thread pool: bounded, so that workflow tasks
            # (which hold the GIL) leave the event loop time to send heartbeats under load.
            "max_concurrent_workflow_tasks": settings.worker_max_concurrent_workflow_tasks,
            "graceful_shutdown_timeout": timedelta(seconds=settings.worker_graceful_shutdown_s),
            # A replacement worker picks up a crashed worker's workflows after this, not after 10 s.
            "sticky_queue_schedule_to_start_timeout": timedelta(
                seconds=settings.worker_sticky_queue_timeout_s
            ),
            "max_heartbeat_throttle_interval": HEARTBEAT_SEND_INTERVAL,
        }
        for key, value in wanted.items():
            if config.get(key) in (None, _SDK_DEFAULTS.get(key)):
                config[key] = value  # type: ignore[literal-required]  # keys of WorkerConfig
        failure_types = list(config.get("workflow_failure_exception_types") or ())
        if ValidationError not in failure_types:
            config["workflow_failure_exception_types"] = [*failure_types, ValidationError]
        runner = config.get("workflow_runner")
        if isinstance(runner, SandboxedWorkflowRunner):
            restrictions = runner.restrictions.with_passthrough_modules(*KIT_MODULES)
            config["workflow_runner"] = CompiledOnceSandboxRunner(
                restrictions=restrictions, runner_class=runner.runner_class
            )
        return config

    @asynccontextmanager
    async def _resources_open(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.resources.aclose()
