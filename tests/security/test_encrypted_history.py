"""With PAYLOAD_KEYS set, the Temporal server stores ciphertext: a canary in the topic (which the
offline model echoes into every step's output and the report) and in a failure message appears
nowhere in the raw history. Without keys it does (positive control: the search works)."""

from __future__ import annotations

import uuid

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
from workflows.models import ResearchInput

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
