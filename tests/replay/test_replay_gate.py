"""The replay gate: the committed histories (tests/replay/histories/, made by
`python -m tests.replay.record`) replay against the current workflow code. A change that would break
runs in flight fails here, before it is deployed; the negative controls prove the gate can fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from common.converter import build_data_converter
from common.settings import try_load_settings
from tests.history_events import markers, scheduled_activities
from tests.replay.changed_session import SessionThatPausesBeforeEachTurn
from tests.replay.changed_workflows import (
    AgentThatPausesFirst,
    ResearchWithAnExtraFirstStep,
    ResearchWithAPatchedExtraStep,
)
from tests.replay.record import HISTORIES, STORED_PREFIX
from workflows.patches import GENERATIONS
from workflows.registry import WORKFLOWS

# What the gate must cover: each workflow type and each way a run can go.
EXPECTED = {
    "research-quick": "ResearchWorkflow",
    "research-approval-delivery": "ResearchWorkflow",
    "research-deep": "ResearchWorkflow",
    "research-deep-child-1": "AgentWorkflow",
    "research-deep-child-2": "AgentWorkflow",
    "agent-tools-approval": "AgentWorkflow",
    "agent-continue-as-new": "AgentWorkflow",
    "agent-continue-as-new-run2": "AgentWorkflow",
    # Recorded after the shipped workflows moved onto the kit; the ones above were recorded before.
    "kit-agent-tools-approval": "AgentWorkflow",
    "kit-research-approval-delivery": "ResearchWorkflow",
    "index-corpus": "IndexWorkflow",
    "answer-grounded": "AnswerWorkflow",
    # Sessions (tests/replay/sessions.py): the messages a client sends decide the commands.
    "session-queue-steer": "SessionWorkflow",
    "session-interrupt-approval": "SessionWorkflow",
    "session-continue-as-new": "SessionWorkflow",
    "session-continue-as-new-run2": "SessionWorkflow",
    "session-continue-as-new-run3": "SessionWorkflow",
    "session-idle-clock": "SessionWorkflow",
    # Recorded by runs of the patch generation (workflows/patches.py): one patch marker a run.
    "generation-agent-tools-approval": "AgentWorkflow",
    "generation-agent-continue-as-new": "AgentWorkflow",
    "generation-agent-continue-as-new-run2": "AgentWorkflow",
    "generation-research-approval-delivery": "ResearchWorkflow",
    "generation-session-queue-steer": "SessionWorkflow",
    "generation-session-continue-as-new": "SessionWorkflow",
    "generation-session-continue-as-new-run2": "SessionWorkflow",
    "generation-session-continue-as-new-run3": "SessionWorkflow",
    # The second generation, on a worker with a payload store: the step records through the store.
    "generation-2026-12b-agent-continue-as-new": "AgentWorkflow",
    "generation-2026-12b-agent-continue-as-new-run2": "AgentWorkflow",
    "generation-2026-12b-session-continue-as-new": "SessionWorkflow",
    "generation-2026-12b-session-continue-as-new-run2": "SessionWorkflow",
    "generation-2026-12b-session-continue-as-new-run3": "SessionWorkflow",
}
CONTINUED = {
    "agent-continue-as-new",
    "session-continue-as-new",
    "session-continue-as-new-run2",
    "generation-agent-continue-as-new",
    "generation-session-continue-as-new",
    "generation-session-continue-as-new-run2",
    "generation-2026-12b-agent-continue-as-new",
    "generation-2026-12b-session-continue-as-new",
    "generation-2026-12b-session-continue-as-new-run2",
}


def load(path: Path) -> WorkflowHistory:
    data = json.loads(path.read_text())
    return WorkflowHistory.from_json(f"replay-{path.stem}", data)


def history(name: str) -> WorkflowHistory:
    return load(HISTORIES / f"{name}.json")


def replayer(*workflows: type) -> Replayer:
    settings = try_load_settings(llm_provider="offline", payload_store="off", _env_file=None)
    return Replayer(workflows=list(workflows), data_converter=build_data_converter(settings))


def workflow_type(history: WorkflowHistory) -> str:
    started = history.events[0].workflow_execution_started_event_attributes
    return started.workflow_type.name


def activity_types(history: WorkflowHistory) -> set[str]:
    return set(scheduled_activities(history))


def unstash_count(history: WorkflowHistory) -> int:
    return scheduled_activities(history).count("run_state.unstash")


def test_the_committed_histories_cover_every_workflow_and_path() -> None:
    found = {path.stem: workflow_type(load(path)) for path in HISTORIES.glob("*.json")}
    assert found == EXPECTED
    events = {name: {e.event_type for e in history(name).events} for name in EXPECTED}
    # Each history really went where its name says (an update accepted, a delivery, a new run).
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in events["research-approval-delivery"]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in events["agent-tools-approval"]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW in events["agent-continue-as-new"]
    assert all(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW in events[name] for name in CONTINUED)
    assert all(
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED in events[name]
        for name in EXPECTED
        if name not in CONTINUED
    )
    assert "delivery.deliver" in activity_types(history("research-approval-delivery"))
    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED in events["research-deep"]
    assert (
        EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED in events["research-deep-child-1"]
    )
    assert {"tool.calculator", "tool.send_webhook"} <= activity_types(history("agent-tools-approval"))
    assert {"tool.calculator", "tool.send_webhook"} <= activity_types(history("kit-agent-tools-approval"))
    assert "delivery.deliver" in activity_types(history("kit-research-approval-delivery"))
    assert "llm.complete" in activity_types(history("answer-grounded"))
    # A steer and a queued message (Updates) during a turn with a tool call; an interrupt that cut off
    # a model call (its cancellation requested) after one that withdrew an approval.
    assert "tool.calculator" in activity_types(history("session-queue-steer"))
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED in events["session-interrupt-approval"]
    assert all(
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in events[name]
        for name in ("session-queue-steer", "session-interrupt-approval", "session-continue-as-new")
    )
    # The idle clock's runs: no idle timer cancelled when a message comes (the ones before: one a turn).
    assert EventType.EVENT_TYPE_TIMER_CANCELED in events["session-queue-steer"]
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in events["session-idle-clock"]
    # The generations' runs took one patch each; the runs before them one marker per patch.
    second = [name for name in EXPECTED if name.startswith(STORED_PREFIX)]
    first = [name for name in EXPECTED if name.startswith("generation-") and name not in second]
    assert all(markers(history(name)) == [GENERATIONS[0]] for name in first)
    assert all(markers(history(name)) == [GENERATIONS[1]] for name in second)
    before = [name for name in EXPECTED if not name.startswith("generation-")]
    assert all(not set(GENERATIONS) & set(markers(history(name))) for name in before)
    # The second generation's continued runs read their step records back from the store (a second
    # unstash, after the conversation's); the first generation's were recorded without a store.
    unstashes = {name: unstash_count(history(name)) for name in second if name.endswith(("-run2", "-run3"))}
    assert unstashes and set(unstashes.values()) == {2}, unstashes
    assert {unstash_count(history(name)) for name in first if name.endswith("-run2")} == {0}
    assert len(markers(history("session-idle-clock"))) == 3  # tenant, coarse phases, idle clock


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_history_replays_on_the_current_workflows(name: str) -> None:
    result = await replayer(*WORKFLOWS).replay_workflow(history(name), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"


@pytest.mark.parametrize(
    ("changed", "name"),
    [
        (ResearchWithAnExtraFirstStep, "research-quick"),
        (ResearchWithAnExtraFirstStep, "research-approval-delivery"),
        (AgentThatPausesFirst, "agent-tools-approval"),
        (SessionThatPausesBeforeEachTurn, "session-queue-steer"),
        (SessionThatPausesBeforeEachTurn, "session-continue-as-new-run2"),
    ],
)
async def test_an_unpatched_change_fails_the_gate(changed: type, name: str) -> None:
    with pytest.raises(NondeterminismError):
        await replayer(changed).replay_workflow(history(name))


async def test_the_same_change_behind_workflow_patched_passes_the_gate() -> None:
    await replayer(ResearchWithAPatchedExtraStep).replay_workflow(history("research-approval-delivery"))
