"""The conversation a run hands to its next run through the payload store (`run_state.stash` and
`run_state.unstash`): kept as the JSON the workflow's converter wrote, and read back into the model
from that JSON, without a round through dicts on the worker's event loop. A conversation stashed by
the previous release (its dict dump, keys sorted) must still read back: a run that continued just
before a deploy unstashes it after."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.resources import WorkerResources, using
from activities.run_state import stash_state, unstash_state
from common.contracts.llm import Message, TextBlock, ToolResultBlock, ToolUseBlock
from common.converter import ValidatingPayloadConverter
from common.payload_store import object_name, workflow_scope
from common.settings import Settings
from workflows.models import AgentConversation

CONVERTER = ValidatingPayloadConverter()


def conversation() -> AgentConversation:
    messages = [Message.user_text("add them up")]
    for i in range(3):
        call = ToolUseBlock(
            id=f"toolu_{i}", name="calculator", input={"expression": f"{i} + 2", "z": 1, "a": 2}
        )
        messages.append(Message(role="assistant", content=[TextBlock(text=f"step {i}"), call]))
        messages.append(
            Message(role="user", content=[ToolResultBlock(tool_use_id=call.id, content=str(i + 2))])
        )
    return AgentConversation(messages=messages)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "payloads"


@pytest.fixture
def worker_resources(store_dir: Path) -> WorkerResources:
    return WorkerResources(Settings(payload_store="local", payload_store_dir=store_dir))


def kept_file(store_dir: Path, digest: str) -> Path:
    return store_dir / object_name(
        workflow_scope(ActivityEnvironment().info.workflow_id), f"{digest}.state.json"
    )


async def test_the_stash_keeps_the_json_the_workflow_wrote(
    worker_resources: WorkerResources, store_dir: Path
) -> None:
    state = conversation()
    (written,) = CONVERTER.to_payloads([state])
    with using(worker_resources):
        digest = await ActivityEnvironment().run(stash_state, RawValue(written))
        assert digest == hashlib.sha256(written.data).hexdigest()
        assert kept_file(store_dir, digest).read_bytes() == written.data  # not parsed and written again

        kept = await ActivityEnvironment().run(unstash_state, digest)
    assert kept.payload.data == written.data
    assert CONVERTER.from_payload(kept.payload, AgentConversation) == state


async def test_a_conversation_stashed_by_the_previous_release_reads_back(
    worker_resources: WorkerResources, store_dir: Path
) -> None:
    state = conversation()
    previous = json.dumps(
        state.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    digest = hashlib.sha256(previous.encode()).hexdigest()
    path = kept_file(store_dir, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(previous.encode())

    with using(worker_resources):
        kept = await ActivityEnvironment().run(unstash_state, digest)
    assert CONVERTER.from_payload(kept.payload, AgentConversation) == state


async def test_a_changed_stash_is_refused_as_forged(
    worker_resources: WorkerResources, store_dir: Path
) -> None:
    (written,) = CONVERTER.to_payloads([conversation()])
    with using(worker_resources):
        digest = await ActivityEnvironment().run(stash_state, RawValue(written))
        kept_file(store_dir, digest).write_bytes(written.data.replace(b"add them up", b"pay them out"))
        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(unstash_state, digest)
    assert refused.value.type == "ForgedRunState" and refused.value.non_retryable


async def test_a_stash_that_is_not_json_is_refused_at_once(worker_resources: WorkerResources) -> None:
    raw = RawValue(Payload(metadata={"encoding": b"binary/plain"}, data=b"\x00\x01"))
    with using(worker_resources), pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(stash_state, raw)
    assert refused.value.type == "InvalidInput" and refused.value.non_retryable
    assert "\n" not in str(refused.value)
