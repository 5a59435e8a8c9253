"""Builds the worker: dependencies once, then every workflow and activity registered on one queue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from activities.approval_notify import ApprovalNotifier
from activities.delivery.activity import DeliveryActivities
from activities.llm.factory import build_llm_activities
from activities.tool_tracing import ToolTracingInterceptor
from activities.tools.read_only import ToolActivities
from common.settings import Settings
from worker.liveness import LivenessHeartbeats, stream_windows
from workflows.registry import WORKFLOWS

# The longest gap between two heartbeats the worker sends for a running activity. The SDK's default
# is 0.8 heartbeat timeouts, which would leave 0.2 s of the 1 s LIVENESS_HEARTBEAT
# (workflows/activity_options.py) for the network; 0.5 s leaves half of it, for two heartbeat RPCs a
# second per running activity.
HEARTBEAT_SEND_INTERVAL = timedelta(milliseconds=500)


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
) -> Worker:
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
        # short heartbeat timeouts notice a dead worker in seconds (docs/operations.md).
        interceptors=[ToolTracingInterceptor(), LivenessHeartbeats(stream_windows(settings))],
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
