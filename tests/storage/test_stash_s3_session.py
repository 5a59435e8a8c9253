"""A session that continues-as-new after every turn with the payload store in an S3 bucket (moto's
real S3 server) and `PAYLOAD_KEYS` set: its conversation (unicode, messages queued behind a turn)
goes through `run_state.stash` / `unstash` into the bucket and back whole, and the bucket never
holds it in clear."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from common.encryption import new_key_entry
from common.settings import Settings
from tests.session.test_session_workflow import answered, close, say, until
from tests.storage.s3_server import S3Server
from workflows.kit import SessionInput
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel
from workflows.session import SessionWorkflow

pytestmark = pytest.mark.timeout(120)

TEXTS = ("première ✓ 𝄞", "zweite — ß", "third \u2028 line")
CLEAR = b"zweite"


@pytest.fixture
def kit_settings(kit_settings: Settings, s3_settings: Settings) -> Settings:
    bucket = {
        name: getattr(s3_settings, name)
        for name in (
            "payload_store",
            "payload_store_s3_bucket",
            "payload_store_s3_prefix",
            "aws_endpoint_url",
            "aws_region",
        )
    }
    return kit_settings.model_copy(update={**bucket, "payload_keys": SecretStr(new_key_entry("k1"))})


async def test_a_session_hands_its_conversation_over_through_an_encrypted_bucket(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_settings: Settings, s3_server: S3Server
) -> None:
    model = ScriptedModel([{"match": {"contains": text}, "reply": {"text": f"re: {text}"}} for text in TEXTS])
    async with kit_worker(workflows=[SessionWorkflow], model=model) as worker:
        handle = await kit_env.client.start_workflow(
            SessionWorkflow.run,
            SessionInput(continue_as_new_after_turns=1),
            id=f"session-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        for text in TEXTS:  # queued at once: later ones wait behind the first turn
            await say(handle, text)
        page = await until(handle, answered(3))
        result = await close(kit_env.client, handle)
    assert [e.text for e in page.entries if e.role == "user"] == list(TEXTS)
    assert [e.text for e in page.entries if e.role == "assistant"] == [f"re: {text}" for text in TEXTS]
    assert result.turns == 3
    # The last turn, in a later run, saw every message before it.
    sent = [
        block.text
        for message in model.requests[-1].messages
        for block in message.content
        if block.type == "text"
    ]
    assert all(text in " ".join(sent) for text in TEXTS)

    s3 = s3_server.client()
    bucket = kit_settings.payload_store_s3_bucket
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    ]
    assert any(key.endswith(".state.json") for key in keys)
    in_clear = [key for key in keys if CLEAR in s3.get_object(Bucket=bucket, Key=key)["Body"].read()]
    assert in_clear == []
