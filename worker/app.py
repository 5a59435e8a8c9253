"""Builds the worker: `AiWorkflowsPlugin` (worker/plugin.py) wires every workflow, activity and
interceptor; this module adds what `python -m worker` needs around it (the in-flight lease)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from common.settings import Settings
from worker.inflight import WorkerLease
from worker.plugin import AiWorkflowsPlugin, Extension, product_activities

__all__ = ["build_activities", "build_worker", "registered_names"]


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    """The product's activities besides the tools (the plugin adds every declared tool's)."""
    return product_activities(settings)


def build_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
    workflows: Sequence[type] | None = None,
    lease: WorkerLease | None = None,
    extensions: Sequence[Extension] | None = None,
) -> Worker:
    """`activities` / `workflows` replace the product's own (tests, `--role`). `lease`: record every
    attempt in flight, so that a peer on this machine fails them for retry the moment this process
    dies (worker/inflight.py, worker/reaper.py). `extensions`: default, the installed and configured
    ones (`worker.plugin.load_extensions`)."""
    extra: list[Interceptor] = [lease.interceptor()] if lease is not None else []
    plugin = AiWorkflowsPlugin(
        settings,
        extensions=extensions,
        activities=activities,
        workflows=workflows,
        extra_interceptors=extra,
    )
    return Worker(client, task_queue=task_queue or settings.temporal_task_queue, plugins=[plugin])


def registered_names(worker: Worker) -> tuple[list[str], list[str]]:
    """Workflow type names and activity names, for the start-up log."""
    config = worker.config(active_config=True)  # as the plugins made it
    workflow_names = sorted(
        str(workflow._Definition.must_from_class(cls).name) for cls in config.get("workflows", [])
    )
    activity_names = sorted(
        str(activity._Definition.must_from_callable(fn).name) for fn in config.get("activities", [])
    )
    return workflow_names, activity_names
