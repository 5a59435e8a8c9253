"""The worker heartbeats for activities that cannot (worker/liveness.py): a short heartbeat timeout
then means "the worker died", never "the work is slow"."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType
from temporalio.worker import Worker

from common.settings import Settings
from tests.chaos.liveness_probe import STALL_S, LivenessProbe, StalledLoopProbe, slow_work, stalls_the_loop
from worker.app import build_worker
from worker.liveness import LivenessHeartbeats


async def run_probe(client: Client, task_queue: str, *, liveness: bool) -> str:
    interceptors = [LivenessHeartbeats()] if liveness else []
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[LivenessProbe],
        activities=[slow_work],
        interceptors=interceptors,
    ):
        result: str = await client.execute_workflow(
            LivenessProbe.run, id=f"liveness-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        return result


async def test_a_slow_activity_outlives_its_heartbeat_timeout_on_a_live_worker(
    dev_client: Client, task_queue: str
) -> None:
    assert await run_probe(dev_client, task_queue, liveness=True) == "done"


async def test_without_liveness_heartbeats_the_same_activity_times_out(
    dev_client: Client, task_queue: str
) -> None:
    # The control: the probe really does outlast its heartbeat timeout.
    with pytest.raises(WorkflowFailureError) as failure:
        await run_probe(dev_client, task_queue, liveness=False)
    cause = failure.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, TimeoutError)
    assert cause.cause.type == TimeoutType.HEARTBEAT


async def test_a_live_worker_whose_loop_stalls_is_not_timed_out(
    dev_client: Client, settings: Settings, task_queue: str
) -> None:
    """No false positive: a live worker stalled for longer than the former 1 s heartbeat timeout (as
    a saturated one was in the 500-wide fan-out) keeps its attempt; it is not run a second time."""
    worker = build_worker(
        dev_client,
        settings,
        task_queue=task_queue,
        workflows=[StalledLoopProbe],
        activities=[stalls_the_loop],
    )
    async with worker:
        attempt = await dev_client.execute_workflow(
            StalledLoopProbe.run, id=f"stall-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert STALL_S > 1 and attempt == 1
