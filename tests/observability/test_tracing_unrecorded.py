"""A process that exports no spans records none and puts no tracing plugin on its clients (the
per-step cost of spans nobody reads, docs/benchmarks.md); and a workflow recorded with the plugin
replays without it: span ids come from a random of their own, not the workflow's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Replayer, Worker
from temporalio.workflow import NondeterminismError

from common.settings import Settings
from tests.observability.conftest import traced

# A fresh interpreter: the session's provider already has the tests' in-memory processor.
_UNRECORDED = textwrap.dedent(
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from common.telemetry import client_plugins, setup_telemetry
    from tests.observability.conftest import quiet_settings

    settings = quiet_settings()
    installed = setup_telemetry(settings, "probe")
    with trace.get_tracer("probe").start_as_current_span("unrecorded") as span:
        print("before", installed.records_spans(), span.is_recording(), len(client_plugins(settings)))
    memory = InMemorySpanExporter()
    installed.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    with trace.get_tracer("probe").start_as_current_span("recorded") as span:
        print("after", installed.records_spans(), span.is_recording(), len(client_plugins(settings)))
    print("exported", [s.name for s in memory.get_finished_spans()])
    """
)


def test_no_exporter_records_no_span_and_adds_no_plugin() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _UNRECORDED], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "before False False 0",
        "after True True 1",
        "exported ['recorded']",
    ]


@activity.defn(name="tracing_probe.echo")
async def _echo(text: str) -> str:
    return text


@workflow.defn(name="TracingRandomProbe", sandboxed=False)
class TracingRandomProbe:
    """Names its activities with `workflow.uuid4()`: had spans drawn from the workflow's random, a
    replay without them would schedule other activity ids (non-determinism)."""

    @workflow.run
    async def run(self) -> list[str]:
        names = []
        for _ in range(3):
            name = str(workflow.uuid4())
            names.append(
                await workflow.execute_activity(
                    _echo, name, activity_id=name, start_to_close_timeout=timedelta(seconds=10)
                )
            )
        return names


@workflow.defn(name="TracingRandomProbe", sandboxed=False)
class _ShiftedRandomProbe:
    """The control: one draw more from the workflow's random before the loop, as spans drawing from
    it would cause."""

    @workflow.run
    async def run(self) -> list[str]:
        workflow.random().getrandbits(64)
        return await TracingRandomProbe().run()


async def test_a_run_traced_by_one_worker_replays_on_an_untraced_one(
    ts_client: Client, settings: Settings, span_exporter: object
) -> None:
    client = traced(ts_client, settings)
    assert client.config()["plugins"], "the traced client must carry the tracing plugin"
    queue = f"tracing-random-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[TracingRandomProbe], activities=[_echo]):
        handle = await client.start_workflow(
            TracingRandomProbe.run, id=f"probe-{uuid.uuid4().hex}", task_queue=queue
        )
        names = await handle.result()
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled == names and len(set(names)) == 3
    # No plugin, no spans: the workflow's own random must give the same ids.
    await Replayer(workflows=[TracingRandomProbe]).replay_workflow(history)
    replayed = await Replayer(workflows=[_ShiftedRandomProbe]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert isinstance(replayed.replay_failure, NondeterminismError)
