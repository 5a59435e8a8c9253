"""A fork whose source's history this worker cannot read (its payloads encrypted with a key this
worker's PAYLOAD_KEYS no longer holds, a payload gone from the store) fails at once in one line
saying so: never as "the workflow code no longer matches", which sends an operator looking for a
code change that is not there, and never after ten minutes of retrying a read that cannot succeed."""

from __future__ import annotations

import base64
import uuid

import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from common.converter import build_data_converter
from common.settings import Settings
from workflows.agent import AgentWorkflow
from workflows.kit import ForkFrom
from workflows.kit.pytest_plugin import run_kit_worker
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput


def keyed(env: WorkflowEnvironment, settings: Settings, key_id: str, byte: int) -> tuple[Client, Settings]:
    keys = SecretStr(f"{key_id}:{base64.b64encode(bytes([byte]) * 32).decode()}")
    settings = settings.model_copy(update={"payload_keys": keys})
    return Client(**{**env.client.config(), "data_converter": build_data_converter(settings)}), settings


async def test_a_fork_of_a_source_encrypted_with_another_key_says_so_in_one_line(
    kit_env: WorkflowEnvironment, kit_settings: Settings
) -> None:
    model = ScriptedModel([{"match": {"step_kind": "agent"}, "reply": {"text": "Ana is on the pro plan"}}])
    params = AgentInput(goal="Which plan is Ana on?", tools=[])
    old_client, old_settings = keyed(kit_env, kit_settings, "old", 1)
    new_client, new_settings = keyed(kit_env, kit_settings, "new", 2)
    queue = f"fork-keys-{uuid.uuid4().hex[:8]}"
    async with run_kit_worker(old_client, old_settings, model=model, task_queue=queue):
        source = await old_client.start_workflow(
            AgentWorkflow.run, params, id=f"fork-keys-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        await source.result()
        assert source.result_run_id is not None
    fork = ForkFrom(workflow_id=source.id, run_id=source.result_run_id, step=2)
    async with run_kit_worker(new_client, new_settings, model=model, task_queue=queue):
        forked = await new_client.start_workflow(
            AgentWorkflow.run,
            params.model_copy(update={"fork_from": fork}),
            id=f"fork-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await forked.result()
        history = await forked.fetch_history()

    message = str(getattr(failure.value.cause, "message", failure.value.cause))
    assert message.startswith("fork: the source's history cannot be read by this worker: "), message
    assert "PayloadDecryptionError" in message and "\n" not in message
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert attempts == [1], attempts  # not retried: the key will not come back
