"""The fork figure (`python -m bench --only fork`): how long `python -m starter fork` takes to get a
run to its first live step, against starting the same run fresh.

- product side: an agent of `2 x agent_steps` steps (model call, calculator, ...) has finished; the
  fork from its step 15 (of 20; quick sizes: 5 of 6) goes through `starter.fork.start_fork` (the
  source read and replayed with this code, then the start), the fork's `fork.recorded_steps` activity
  (the worker reads and replays the source again) and the reused steps 1-14, up to its first live
  step, a model call;
- baseline side: the same agent input started fresh, up to its step 1, the same model call.

Each time is from the command (time.time() before it) to the live model call's ActivityTaskCompleted
in the run's history (the server's clock, the same machine's), both on the bench's product worker and
zero-latency model, in turns."""

from __future__ import annotations

import time
import uuid
from statistics import median

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory

from activities.llm.activity import LLM_ACTIVITY
from bench.figures import Figure, Sizes, count_into, in_turn, sides
from bench.harness import Bench
from bench.histories import activity_completions, event_time
from bench.model import ModelConfig
from starter.fork import start_fork
from workflows.models import AgentInput, AgentResult

__all__ = ["ANALYSIS", "figures", "fork_step"]

FORK_ACTIVITY = "fork.recorded_steps"


def fork_step(iterations: int) -> int:
    """The model call three quarters of the way into an agent of `iterations` turns (two steps each:
    the model call, then the calculator): 15 of 20 steps, 5 of 6."""
    return 2 * (iterations * 3 // 4) + 1


def first_live_call(history: WorkflowHistory) -> float:
    """When the run's first model call completed (a fork's reused steps schedule no activity)."""
    completions = activity_completions(history, LLM_ACTIVITY)
    if not completions:
        raise RuntimeError(f"{history.workflow_id}: no model call completed")
    return completions[0]


def activity_seconds(history: WorkflowHistory, activity_type: str) -> float:
    """Scheduled -> completed of the run's activity of `activity_type` (0 if it has none)."""
    scheduled: dict[int, float] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == activity_type:
                scheduled[event.event_id] = event_time(event)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            began = scheduled.get(event.activity_task_completed_event_attributes.scheduled_event_id)
            if began is not None:
                return event_time(event) - began
    return 0.0


async def fresh_run(bench: Bench, goal: str, iterations: int) -> tuple[WorkflowHandle, float]:
    """Seconds from starting the agent to its step 1 (its first model call) done."""
    began = time.time()
    handle = await bench.product.start_workflow(
        "AgentWorkflow",
        AgentInput(goal=goal, tools=["calculator"], max_iterations=iterations),
        id=f"bench-fresh-{uuid.uuid4().hex[:10]}",
        task_queue=bench.settings.temporal_task_queue,
        result_type=AgentResult,
    )
    await handle.result()
    return handle, first_live_call(await handle.fetch_history()) - began


async def forked_run(bench: Bench, source: str, step: int) -> tuple[WorkflowHandle, float, float, float]:
    """Seconds from `start_fork` to the fork's first live step done; and of that, `start_fork`'s own
    time (the check) and the fork's `fork.recorded_steps` activity (scheduled -> completed)."""
    began = time.time()
    handle, _ = await start_fork(bench.product, source, step)
    checked = time.time() - began
    await handle.result()
    history = await handle.fetch_history()
    return handle, first_live_call(history) - began, checked, activity_seconds(history, FORK_ACTIVITY)


async def fork_from_step(bench: Bench, sizes: Sizes) -> Figure:
    bench.model.config = ModelConfig(reply_bytes=200)
    iterations = sizes.agent_steps
    step = fork_step(iterations)
    goal = f"bench fork source {uuid.uuid4().hex}"
    source = await bench.product.start_workflow(
        "AgentWorkflow",
        AgentInput(goal=goal, tools=["calculator"], max_iterations=iterations),
        id=f"bench-fork-source-{uuid.uuid4().hex[:10]}",
        task_queue=bench.settings.temporal_task_queue,
        result_type=AgentResult,
    )
    await source.result()
    source_run = f"{source.id}/{source.result_run_id}"
    await forked_run(bench, source_run, step)  # warm-up: the starter's replayer, the fork activity
    await fresh_run(bench, goal, iterations)
    forked: list[float] = []
    fresh: list[float] = []
    checks: list[float] = []
    loads: list[float] = []
    counts = sides()
    for rep in range(sizes.reps * 3):
        for is_fork in in_turn(rep):
            if is_fork:
                handle, seconds, checked, loading = await forked_run(bench, source_run, step)
                forked.append(seconds * 1000)
                checks.append(checked * 1000)
                loads.append(loading * 1000)
                await count_into(counts["product"], bench.product, [handle])
            else:
                handle, seconds = await fresh_run(bench, goal, iterations)
                fresh.append(seconds * 1000)
                await count_into(counts["baseline"], bench.product, [handle])
    return Figure(
        "fork_first_live_step",
        f"fork from step {step} of a {2 * iterations}-step agent: starter fork -> its first live step done "
        "(baseline column: the same agent started fresh -> its step 1 done)",
        "ms",
        forked,
        fresh,
        "info",
        counts=counts,
        notes=[
            f"of the fork's time, median: starter fork's check and start {median(checks):.1f} ms (the source "
            f"read and replayed in the client), the fork's {FORK_ACTIVITY} activity {median(loads):.1f} ms "
            "(read and replayed again in the worker), the rest the run's start and its reused steps"
        ],
    )


async def figures(bench: Bench, sizes: Sizes) -> list[Figure]:
    return [await fork_from_step(bench, sizes)]


# docs/benchmarks.md's "Fork from step N" section (the harness rewrites the whole file).
ANALYSIS = """## Fork from step N

`python -m bench --only fork` (`bench/fork.py`): an agent of 20 steps (10 turns of a model call and
the calculator, on the bench's zero-latency model) has finished; `starter.fork.start_fork` (what
`python -m starter fork RUN --from-step 15` runs) forks it from step 15, and the figure is the time
from the command to the fork's first live step (its first model call's ActivityTaskCompleted in the
fork's history). The baseline column is the same agent started fresh up to its step 1, the same
model call: what a fork costs over starting again. 9 of each, in turns; quick sizes fork a 6-step
agent at step 5.

Measured 2026-12-06 07:41 UTC with `python -m bench --only fork` (load average 5.09 before, 4.76
after: other engineers' benches and tests ran meanwhile): 424.2 ms (332.2-559.9) against 38.6 ms
(25.0-45.0) fresh, 11x. Where it went (the row's note, medians): 183 ms in `start_fork`, which reads
the source's history and replays it with this code before it starts anything (the check that a
source this code no longer makes fails in one line, and nothing starts); 176 ms in the fork's
`fork.recorded_steps` activity, where the worker reads and replays the source again (a worker
takes no recorded result from the client); the remaining ~65 ms the run's first workflow tasks and
its 14 reused steps, which run no activity. A py-spy profile of the row (200 Hz) showed where the
two reads went: 391 of the 395 samples in `replay_steps` were the `Replayer` building its workflow
worker (every known workflow class prepared in a new sandbox, its modules imported there), for each
read; replaying the 20 steps themselves was a few samples, and fetching the history 25.

What changed (activities/fork_replay.py): a replay's `Replayer` is given only the source's workflow
type (and a dynamic workflow, if any), and its sandbox runner is one per process (per set of shared
modules) that validates a workflow class the first time and not again, so a read no longer imports
every known workflow in a new sandbox. The replay itself still runs on every read, in the starter's
check and again in the worker, with that process's code: a worker whose code no longer makes the
source before step N refuses the fork (tests/fork/test_fork_replay.py). The first fork in a process
(the bench's warm-up fork; every one-shot `python -m starter fork`) validates the source's type once.
Measured 2026-12-06 10:09-10:35 UTC, two runs before and four after on the shared machine: before
(load average 0.5) 403.2 ms (379.5-439.3) and 415.5 ms (321.5-515.8) against 34.4 and 46.5 ms fresh,
`start_fork` 190.5 and 193.4 ms, `fork.recorded_steps` 177.0 and 173.1 ms; after (load average
about 5, other engineers' tests running) 261.7, 299.4, 314.9 and 251.8 ms against
25.5-41.8 ms fresh, `start_fork` 105.9-141.3 ms, `fork.recorded_steps` 83.4-112.7 ms. The like-for-like
pair (one tree, only activities/fork_replay.py differing, in turns at the same load 5-7.6; other
engineers' changes landed between the runs above): 642.8 and 522.4 ms before, 460.4 and 390.7 ms after;
`fork.recorded_steps` 252.8 and 217.0 ms before, 160.7 and 166.1 ms after. What is left in a read
is the replay proper, about 60 ms for the 20 steps in a bench process (cProfile: per
activation the SDK's payload visitor with its codec and payload-store checks, and the core's replay
worker; the sandboxed instance about 6 ms), and the history fetch, about 7 ms. A per-process memo
of replays (a closed chain's histories cannot change) would skip the worker's replay for a repeat
fork of one source; not done: this figure forks one source repeatedly, so it would then measure
only that repeat case, not a first fork."""
