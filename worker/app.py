"""Builds the worker: dependencies once, then every workflow and activity registered on one queue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from activities.approval_notify import ApprovalNotifier
from activities.delivery.activity import DeliveryActivities
from activities.llm.factory import build_llm_activities
from activities.tool_tracing import ToolTracingInterceptor
from activities.tools.read_only import ToolActivities
from common.settings import Settings
from worker.inflight import WorkerLease
from worker.liveness import LivenessHeartbeats, stream_windows
from workflows.registry import WORKFLOWS

# The longest gap between two heartbeats the worker sends for a running activity: a quarter of the
# 10 s LIVENESS_HEARTBEAT (workflows/activity_options.py), so a live worker can stall for 7.5 s before
# Temporal takes it for dead; one heartbeat RPC per 2.5 s per running activity. (The SDK's default,
# 0.8 heartbeat timeouts, would leave 2 s.) Shorter heartbeat timeouts get 0.8 of theirs, as usual.
HEARTBEAT_SEND_INTERVAL = timedelta(milliseconds=2500)


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    """Every activity, bound to dependencies made once per process (HTTP pools, SMTP settings)."""
    llm = build_llm_activities(settings)
    tools = ToolActivities.from_settings(settings)
    deliveries = DeliveryActivities.from_settings(settings)
    notifier = ApprovalNotifier.from_settings(settings)
    return [llm.complete, *tools.all(), *deliveries.all(), notifier.notify_escalation]


def build_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
    workflows: Sequence[type] | None = None,
    lease: WorkerLease | None = None,
) -> Worker:
    """`lease`: record every attempt in flight, so that a peer on this machine fails them for retry the
    moment this process dies (worker/inflight.py, worker/reaper.py)."""
    interceptors: list[Interceptor] = [ToolTracingInterceptor(), LivenessHeartbeats(stream_windows(settings))]
    if lease is not None:
        interceptors.append(lease.interceptor())
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=list(workflows if workflows is not None else WORKFLOWS),
        activities=list(activities if activities is not None else build_activities(settings)),
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        # Also the size of the SDK's workflow-task thread pool: bounded, so that workflow tasks (which
        # hold the GIL) leave the event loop time to send heartbeats under load (common/settings.py).
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_s),
        # A replacement worker picks up a crashed worker's workflows after this long, not after 10 s.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.worker_sticky_queue_timeout_s),
        max_heartbeat_throttle_interval=HEARTBEAT_SEND_INTERVAL,
        # Inside the client's tracing plugin, so tool spans join the run's trace. LivenessHeartbeats:
        # the heartbeat timeout notices a dead worker that no peer on its machine reaped
        # (docs/operations.md).
        interceptors=interceptors,
    )


def registered_names(worker: Worker) -> tuple[list[str], list[str]]:
    """Workflow type names and activity names, for the start-up log."""
    config = worker.config()
    workflow_names = sorted(
        str(workflow._Definition.must_from_class(cls).name) for cls in config.get("workflows", [])
    )
    activity_names = sorted(
        str(activity._Definition.must_from_callable(fn).name) for fn in config.get("activities", [])
    )
    return workflow_names, activity_names
