"""Regenerates the committed histories the replay gate replays: `python -m tests.replay.record
[NAME ...]` (all scenarios, or only the named ones: histories recorded by older code stay as they were,
which is what the gate is for).

Runs each scenario on a local dev server with the product's worker (offline model, real delivery to
a local HTTP receiver; the session scenarios on a second worker whose scripted model times their
turns, tests/replay/sessions.py) and writes one JSON history per workflow run to
tests/replay/histories/.
Regenerate after a change that is *meant* to change the commands a workflow emits for new runs (and
only together with a `workflow.patched` branch that keeps old runs replaying; docs/operations.md),
or when the payload shapes change (for example, the agent transcript moving to external storage).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from common.converter import build_data_converter
from common.devserver import FAST_DISPATCH
from common.search_attributes import ALL_KEYS
from common.settings import Settings, try_load_settings
from tests.fakes.receivers import HttpReceiver
from tests.replay.sessions import SESSION_SCRIPT, session_scenarios
from worker.app import build_worker
from workflows.answer import AnswerInput
from workflows.index import IndexInput
from workflows.models import AgentInput, ApprovalDecision, ResearchInput, WorkflowStatus

HISTORIES = Path(__file__).resolve().parent / "histories"
TASK_QUEUE = "replay-recording"
SCRIPTED_QUEUE = "replay-recording-scripted"
STORED_QUEUE = "-stored"  # the suffix of the queues of the workers with a payload store
APPROVER = "alice"
# Relative to the repo (recording runs from its root): no machine's path goes into a history.
CORPUS = "docs/corpus"
GENERATION_SCENARIOS = (
    "agent-tools-approval",
    "agent-continue-as-new",
    "research-approval-delivery",
    "session-queue-steer",
    "session-continue-as-new",
)
# Recorded by runs of the second generation, on a worker with a payload store (`Scenario.stored`).
STORED_SCENARIOS = ("agent-continue-as-new", "session-continue-as-new")
STORED_PREFIX = "generation-2026-12b-"


@dataclass(frozen=True)
class Scenario:
    name: str  # file name stem; one file per run (`-run2` ... for continue-as-new)
    workflow: str
    params: BaseModel
    approve: bool = False
    children: int = 0  # deep research: child agents `<id>/research-<n>`, recorded as `-child-<n>`
    # What a client does with the run once started (messages, approvals, close); the scenario then
    # waits for the run's result as every scenario does.
    drive: Callable[[WorkflowHandle[Any, Any]], Awaitable[None]] | None = None
    scripted: bool = False  # on the worker whose model answers from SESSION_SCRIPT
    # On a worker with a payload store whose threshold keeps every payload inline: the stash path of
    # continue-as-new (conversation and step records through the store) with a history that replays
    # without the store.
    stored: bool = False


def scenarios(receiver_url: str) -> list[Scenario]:
    before_the_kit = [
        Scenario("research-quick", "ResearchWorkflow", ResearchInput(topic="tide pools", max_subtopics=3)),
        Scenario(
            "research-approval-delivery",
            "ResearchWorkflow",
            ResearchInput(
                topic="tide pools",
                max_subtopics=2,
                approvers=[APPROVER],
                deliver_to=f"{receiver_url}/reports",
            ),
            approve=True,
        ),
        Scenario(
            "research-deep",
            "ResearchWorkflow",
            ResearchInput(topic="tide pools", max_subtopics=2, depth="deep", deep_max_iterations=3),
            children=2,
        ),
        Scenario(
            "agent-tools-approval",
            "AgentWorkflow",
            AgentInput(
                goal=f"Work out 17 * 23 and send a webhook to {receiver_url}/agent with the result",
                tools=["calculator", "search_docs", "send_webhook"],
                approvers=[APPROVER],
            ),
            approve=True,
        ),
        Scenario(
            "agent-continue-as-new",
            "AgentWorkflow",
            AgentInput(
                goal="What time is it, and what is 6 * 7?",
                tools=["calculator", "current_time"],
                continue_as_new_after_iterations=1,
            ),
        ),
    ]
    # The same runs recorded by the workflows rewritten on the kit (the ones above by the code
    # before it), and the workflow types that came with the kit.
    on_the_kit = [
        dataclasses.replace(scenario, name=f"kit-{scenario.name}")
        for scenario in before_the_kit
        if scenario.name in ("agent-tools-approval", "research-approval-delivery")
    ]
    sessions = [
        Scenario(name, "SessionWorkflow", params, drive=drive, scripted=True)
        for name, params, drive in session_scenarios()
    ]
    # Recorded by runs of the patch generation (workflows/patches.py): one patch marker, not one per
    # patch; the runs above replay through the patches they took.
    generation = [
        dataclasses.replace(scenario, name=f"generation-{scenario.name}")
        for scenario in [*before_the_kit, *sessions]
        if scenario.name in GENERATION_SCENARIOS
    ]
    stored = [
        dataclasses.replace(scenario, name=f"{STORED_PREFIX}{scenario.name}", stored=True)
        for scenario in [*before_the_kit, *sessions]
        if scenario.name in STORED_SCENARIOS
    ]
    return [
        *before_the_kit,
        *on_the_kit,
        Scenario("index-corpus", "IndexWorkflow", IndexInput(directory=CORPUS, corpus="replay")),
        Scenario(
            "answer-grounded",
            "AnswerWorkflow",
            AnswerInput(question="How long does an approval wait by default?", corpus="replay"),
        ),
        *sessions,
        *generation,
        *stored,
    ]


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


async def record_scenario(client: Client, scenario: Scenario) -> list[tuple[str, WorkflowHistory]]:
    """(file stem, history) of each run the scenario made."""
    handle: WorkflowHandle[Any, Any] = await client.start_workflow(
        scenario.workflow,
        scenario.params,
        id=f"replay-{scenario.name}",
        task_queue=f"{SCRIPTED_QUEUE if scenario.scripted else TASK_QUEUE}{STORED_QUEUE if scenario.stored else ''}",
    )
    if scenario.drive is not None:
        await scenario.drive(handle)
    if scenario.approve:

        async def pending() -> bool:
            status = await handle.query("status", result_type=WorkflowStatus)
            return status.pending_approval is not None

        await until(pending)
        await handle.execute_update("approve", ApprovalDecision(approver=APPROVER, approved=True))
    await handle.result()
    histories: list[tuple[str, WorkflowHistory]] = []
    run_id: str | None = handle.first_execution_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        stem = scenario.name if not histories else f"{scenario.name}-run{len(histories) + 1}"
        histories.append((stem, history))
        last = history.events[-1]
        attributes = last.workflow_execution_continued_as_new_event_attributes
        run_id = attributes.new_execution_run_id or None
    for n in range(1, scenario.children + 1):
        child = await client.get_workflow_handle(f"{handle.id}/research-{n}").fetch_history()
        histories.append((f"{scenario.name}-child-{n}", child))
    return histories


def anonymised(value: Any) -> Any:
    """The history without the recording machine's name (worker identities are `pid@host`)."""
    if isinstance(value, dict):
        return {k: ("replay-recorder" if k == "identity" else anonymised(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [anonymised(item) for item in value]
    return value


async def record(directory: Path = HISTORIES, only: frozenset[str] = frozenset()) -> list[Path]:
    with tempfile.TemporaryDirectory() as scratch:
        settings: Settings = try_load_settings(
            temporal_task_queue=TASK_QUEUE,
            llm_provider="offline",
            dedupe_ledger_path=Path(scratch) / "ledger.sqlite3",
            payload_store="off",  # every payload inline: the committed histories need no store
            index_path=Path(scratch) / "index.sqlite3",
            egress_allow_private="127.0.0.1",  # the scenarios deliver to a receiver on loopback
            _env_file=None,
        )
        extra: list[str] = []
        for key, value in FAST_DISPATCH.items():
            extra += ["--dynamic-config-value", f"{key}={value}"]
        env = await WorkflowEnvironment.start_local(
            data_converter=build_data_converter(settings),
            dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
            dev_server_extra_args=extra,
            search_attributes=ALL_KEYS,
            dev_server_log_level="error",
        )
        script = Path(scratch) / "session-script.json"
        script.write_text(json.dumps(SESSION_SCRIPT))
        scripted = settings.model_copy(update={"llm_provider": "scripted", "llm_script_file": script})
        # Every payload inline (the threshold above any of theirs); the stash's objects in the scratch.
        stored = {
            "payload_store": "local",
            "payload_store_dir": Path(scratch) / "store",
            "payload_store_threshold_bytes": 64 * 1024 * 1024,
        }
        receiver = HttpReceiver().start()
        written: list[Path] = []
        try:
            async with (
                build_worker(env.client, settings),
                build_worker(env.client, scripted, task_queue=SCRIPTED_QUEUE),
                build_worker(
                    env.client, settings.model_copy(update=stored), task_queue=TASK_QUEUE + STORED_QUEUE
                ),
                build_worker(
                    env.client, scripted.model_copy(update=stored), task_queue=SCRIPTED_QUEUE + STORED_QUEUE
                ),
            ):
                for scenario in scenarios(receiver.url):
                    if only and scenario.name not in only:
                        continue
                    for stem, history in await record_scenario(env.client, scenario):
                        target = directory / f"{stem}.json"
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_text(json.dumps(anonymised(history.to_json_dict()), indent=1) + "\n")
                        written.append(target)
        finally:
            receiver.stop()
            await env.shutdown()
        return written


def main() -> None:
    for path in asyncio.run(record(only=frozenset(sys.argv[1:]))):
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
