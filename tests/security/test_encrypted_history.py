"""With PAYLOAD_KEYS set, the Temporal server stores ciphertext: a canary in a research topic or an
agent's goal (which the offline model echoes into its output), in a tool result, and in a failure
message appears nowhere in the raw history. Without keys it does (positive control: the search works)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.llm.models import LLMRequest, LLMResponse
from common.encryption import new_key_entry
from common.settings import Settings
from starter import api
from tests.security.history import client_with_keys, payload_key_ids, raw_history
from worker.app import build_worker
from workflows.models import AgentInput, ResearchInput

K1 = new_key_entry("k1")


def canary() -> str:
    return f"canary-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain"])
async def test_canary_in_topic_and_model_output_stays_out_of_history(
    dev_client: Client, settings: Settings, task_queue: str, encrypted: bool
) -> None:
    secret = canary()
    client = client_with_keys(dev_client, K1 if encrypted else None)
    async with build_worker(client, settings):
        handle = await api.start_research(
            client, ResearchInput(topic=f"lighthouses {secret}", max_subtopics=2), task_queue=task_queue
        )
        result = await handle.result()
    # The run really carried the canary through the model: it is in the plan, notes and report.
    assert secret in result.report and all(secret in s for s in result.subtopics)

    history, raw = await raw_history(dev_client, handle.id)
    assert (secret.encode() in raw) is not encrypted
    assert payload_key_ids(history) == ({"k1"} if encrypted else set())


def failure_chain(error: BaseException | None) -> str:
    messages = []
    while error is not None:
        messages.append(str(error))
        error = error.__cause__
    return " <- ".join(messages)


@activity.defn(name="llm.complete")
async def failing_llm(request: LLMRequest) -> LLMResponse:
    # A provider error that quotes the prompt back, as real ones sometimes do.
    raise ApplicationError(f"provider rejected prompt: {request.messages[0].content}", non_retryable=True)


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain"])
async def test_failure_messages_are_encrypted_too(
    dev_client: Client, settings: Settings, task_queue: str, encrypted: bool
) -> None:
    secret = canary()
    client = client_with_keys(dev_client, K1 if encrypted else None)
    async with build_worker(client, settings, activities=[failing_llm]):
        handle = await api.start_research(client, ResearchInput(topic=secret), task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    # The client with the key sees the real message ...
    assert secret in failure_chain(caught.value)

    # ... the server does not.
    _, raw = await raw_history(dev_client, handle.id)
    assert (secret.encode() in raw) is not encrypted


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain"])
async def test_canary_in_goal_and_tool_result_stays_out_of_history(
    dev_client: Client, settings: Settings, task_queue: str, tmp_path: Path, encrypted: bool
) -> None:
    goal_secret, tool_secret = canary(), canary()
    # The only place the tool canary exists is a document search_docs finds for the goal.
    (tmp_path / "notes.md").write_text(f"# Zephyrquokka\n\nThe zephyrquokka ledger code is {tool_secret}.\n")
    client = client_with_keys(dev_client, K1 if encrypted else None)
    async with build_worker(client, settings.model_copy(update={"tools_docs_dir": tmp_path})):
        handle = await api.start_agent(
            client,
            AgentInput(
                goal=f"Find notes about zephyrquokka ({goal_secret})", tools=["search_docs"], max_iterations=3
            ),
            task_queue=task_queue,
        )
        result = await handle.result()
    # The tool returned the document and the model's answer quotes it: the canary crossed the tool.
    assert tool_secret in result.answer and goal_secret in result.goal

    _, raw = await raw_history(dev_client, handle.id)
    for secret in (goal_secret, tool_secret):
        assert (secret.encode() in raw) is not encrypted
