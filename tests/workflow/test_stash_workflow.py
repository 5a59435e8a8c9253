"""The stash handover (`ctx.stash` / `ctx.unstash`) through a real worker on the time-skipping
server, with `PAYLOAD_KEYS` set: an agent that continues-as-new keeps its conversation, and neither
its history nor the payload store holds the conversation in clear (the stash's own object included:
docs/production.md, "every payload a worker writes is AES-GCM encrypted before it leaves the process")."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowFailureError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.llm.activity import LLM_ACTIVITY
from activities.resources import WorkerResources, using
from activities.run_state import stash_state, unstash_state
from common.contracts.llm import Message
from common.converter import ValidatingPayloadConverter
from common.encryption import new_key_entry
from common.settings import Settings
from workflows.agent import AgentWorkflow
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentConversation, AgentInput, AgentResult

pytestmark = pytest.mark.timeout(90)

SECRET = "stash-marker ünïcode ✓"
CLEAR = b"stash-marker"  # SECRET's ASCII part, as it would appear in a kept byte
STEPS = 4


def kept_files(store_dir: Path) -> tuple[list[str], list[str]]:
    """The names of the store's objects, and of those holding the secret in clear."""
    files = [path for path in store_dir.rglob("*") if path.is_file()]
    return [path.name for path in files], [path.name for path in files if CLEAR in path.read_bytes()]


@pytest.fixture(params=[64, 2048], ids=["stored", "inline"])
def kit_settings(kit_settings: Settings, request: pytest.FixtureRequest) -> Settings:
    # 64 bytes: the stash's input and the unstash's result go to the store as references (the
    # activity gets the bytes back from the store); 2,048 (the default): a short one travels inline.
    return kit_settings.model_copy(
        update={
            "payload_keys": SecretStr(new_key_entry("k1")),
            "payload_store_threshold_bytes": request.param,
        }
    )


def counting_model() -> ScriptedModel:
    calls = [
        {
            "match": {"step_kind": "agent", "turn": number},
            "reply": {"tool_calls": [{"name": "calculator", "input": {"expression": f"{number} + 1"}}]},
        }
        for number in range(STEPS)
    ]
    return ScriptedModel(
        [*calls, {"match": {"step_kind": "agent", "turn": STEPS}, "reply": {"text": "done"}}]
    )


async def test_an_encrypted_agent_keeps_its_conversation_and_nothing_holds_it_in_clear(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_settings: Settings
) -> None:
    model = counting_model()
    params = AgentInput(goal=f"count {SECRET}", tools=["calculator"], continue_as_new_after_iterations=1)
    histories: list[History] = []
    async with kit_worker(workflows=[AgentWorkflow], model=model) as worker:
        handle = await kit_env.client.start_workflow(
            AgentWorkflow.run, params, id=f"stash-{uuid.uuid4().hex[:8]}", task_queue=worker.task_queue
        )
        result = await kit_env.client.get_workflow_handle(handle.id, result_type=AgentResult).result()
        run = handle.first_execution_run_id
        while run:
            history = await kit_env.client.get_workflow_handle(handle.id, run_id=run).fetch_history()
            histories.append(History(events=history.events))
            continued = history.events[-1].workflow_execution_continued_as_new_event_attributes
            run = continued.new_execution_run_id or None

    assert result.outcome == "completed" and result.runs >= 3
    # Every run's model call saw the whole conversation so far: the stashes came back whole.
    assert [len(request.messages) for request in model.requests] == [1 + 2 * n for n in range(STEPS + 1)]
    assert all(SECRET in str(request.messages[0]) for request in model.requests)
    stashes = [
        event
        for history in histories
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "run_state.stash"
    ]
    assert len(stashes) >= 2
    assert all(CLEAR not in history.SerializeToString() for history in histories)
    kept, in_clear = kept_files(kit_settings.payload_store_dir)
    assert any(name.endswith(".state.json") for name in kept)
    assert in_clear == []


# -- the kept object across a change of PAYLOAD_KEYS (activity level) ---------------------------------


def resources_with(store_dir: Path, keys: str | None) -> WorkerResources:
    return WorkerResources(
        Settings(
            payload_store="local",
            payload_store_dir=store_dir,
            payload_keys=None if keys is None else SecretStr(keys),
            _env_file=None,
        )
    )


def conversation_payload() -> Payload:
    (payload,) = ValidatingPayloadConverter().to_payloads(
        [AgentConversation(messages=[Message.user_text(f"goal {SECRET}")])]
    )
    return payload


async def test_a_stash_kept_in_clear_reads_back_once_keys_are_set(tmp_path: Path) -> None:
    """A run that stashed before `PAYLOAD_KEYS` was set (or before stashes were encrypted)."""
    written = conversation_payload()
    with using(resources_with(tmp_path, None)):
        digest = await ActivityEnvironment().run(stash_state, RawValue(written))
    with using(resources_with(tmp_path, new_key_entry("k1"))):
        kept = await ActivityEnvironment().run(unstash_state, digest)
    assert kept.payload.data == written.data


async def test_an_encrypted_stash_reads_back_after_a_key_rotation_and_not_without_keys(
    tmp_path: Path,
) -> None:
    written, old_key = conversation_payload(), new_key_entry("k1")
    with using(resources_with(tmp_path, old_key)):
        digest = await ActivityEnvironment().run(stash_state, RawValue(written))
    assert kept_files(tmp_path)[1] == []
    with using(resources_with(tmp_path, f"{old_key},{new_key_entry('k2')}")):
        kept = await ActivityEnvironment().run(unstash_state, digest)
    assert kept.payload.data == written.data and kept.payload.metadata["encoding"] == b"json/plain"
    with using(resources_with(tmp_path, None)), pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(unstash_state, digest)
    # Retried (not failed) until the worker has its keys, as any payload under an unknown key.
    assert refused.value.type == "PayloadDecryptionError" and not refused.value.non_retryable
    assert "PAYLOAD_KEYS" in str(refused.value) and "\n" not in str(refused.value)


# -- a kept state the model no longer accepts ------------------------------------------------------


@activity.defn(name="run_state.stash")
async def stash_from_an_older_model(state: RawValue) -> str | None:
    """The real stash, of a conversation the model rejects (as a stash kept before a deploy that
    narrowed the model would be): its digest is genuine, so only the model can refuse it."""
    older = state.payload.data.replace(b'"role":"assistant"', b'"role":"system"')
    return await stash_state(RawValue(Payload(metadata=dict(state.payload.metadata), data=older)))


async def test_a_kept_state_the_model_rejects_fails_the_run_in_one_line(
    kit_env: WorkflowEnvironment, kit_settings: Settings
) -> None:
    """Not a workflow-task retry loop: the next run fails at once with `InvalidInput`."""
    from activities.tools.builtin import BUILTIN_TOOLS
    from worker.app import build_activities, build_worker

    model = counting_model()
    replaced = {"run_state.stash": stash_from_an_older_model, LLM_ACTIVITY: model.activity}
    activities = [replaced.get(name_of(fn), fn) for fn in build_activities(kit_settings)]
    activities += [tool.activity for tool in BUILTIN_TOOLS]
    params = AgentInput(goal="count", tools=["calculator"], continue_as_new_after_iterations=1)
    worker = build_worker(kit_env.client, kit_settings, activities=activities, workflows=[AgentWorkflow])
    async with worker:
        handle = await kit_env.client.start_workflow(
            AgentWorkflow.run, params, id=f"stash-{uuid.uuid4().hex[:8]}", task_queue=worker.task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await kit_env.client.get_workflow_handle(handle.id).result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert (
        cause.message == "invalid AgentConversation: messages.1.role: Input should be 'user' or 'assistant'"
    )


def name_of(function: object) -> str:
    definition = activity._Definition.from_callable(function)  # type: ignore[arg-type]
    return definition.name if definition is not None and definition.name else ""
