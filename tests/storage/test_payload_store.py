"""The content-addressed payload store: lossless round trips, deduplication across an agent's steps,
integrity checks, sharing between processes, and how it composes with the converter and encryption."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.contrib.aws.s3driver import S3StorageDriverClient
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
    WorkflowSerializationContext,
)

from activities.kit import registry
from activities.llm.models import LLMRequest, Message, TextBlock, ToolResultBlock, ToolUseBlock
from common import payload_store
from common.converter import build_data_converter
from common.payload_store import (
    ContentAddressedDriver,
    CutMemory,
    LocalObjectStore,
    PayloadStoreError,
    S3ObjectStore,
    join_json,
    scope_workflow_id,
    split_json,
    workflow_scope,
)
from common.settings import Settings

STORE = StorageDriverStoreContext()
RETRIEVE = StorageDriverRetrieveContext()


def transcript(steps: int, reply_bytes: int = 2048) -> LLMRequest:
    messages = [Message.user_text("Find the answer, naïvely: 漢字 and emoji 🚀")]
    for step in range(steps):
        messages.append(
            Message(
                role="assistant",
                content=[
                    TextBlock(text=f"step {step} " + "x" * reply_bytes),
                    ToolUseBlock(
                        id=f"toolu_{step}", name="calculator", input={"expression": f"{step} * 1.5"}
                    ),
                ],
            )
        )
        messages.append(
            Message(role="user", content=[ToolResultBlock(tool_use_id=f"toolu_{step}", content="1.5")])
        )
    return LLMRequest(
        system="be careful",
        messages=messages,
        tools=[tool.spec() for tool in registry.all()],
        temperature=0.7,
        step_kind="agent",
        step=f"agent step {steps + 1}",
    )


def json_payload(value: LLMRequest) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=value.model_dump_json().encode())


def driver_at(root: Path) -> ContentAddressedDriver:
    return ContentAddressedDriver(LocalObjectStore(root))


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def test_split_and_join_give_back_the_exact_bytes() -> None:
    for request in (transcript(0), transcript(3), transcript(40, reply_bytes=300)):
        data = request.model_dump_json().encode()
        cut = split_json(data, min_object_bytes=256, array_block=4)
        assert cut is not None
        root, objects = cut
        assert len(root) < len(data) or len(data) < 2048
        assert join_json(root, objects).encode() == data


def test_documents_that_use_the_reference_keys_are_not_cut() -> None:
    assert split_json(b'{"a": {"$sha256": "00"}}', 1, 4) is None
    assert split_json(b'{"text": "\\u0024blocks"}', 1, 4) is None  # escaped spelling, same string
    assert split_json(b"not json", 1, 4) is None
    assert split_json(b'"a string"', 1, 4) is None


async def test_round_trip_through_the_driver(tmp_path: Path) -> None:
    driver = driver_at(tmp_path)
    payload = json_payload(transcript(5))
    [claim] = await driver.store(STORE, [payload])
    assert set(claim.claim_data) == {"sha256"}
    [back] = await driver_at(tmp_path).retrieve(RETRIEVE, [claim])  # a fresh process: no cache
    assert back == payload


async def test_a_growing_transcript_stores_only_what_is_new(tmp_path: Path) -> None:
    driver = driver_at(tmp_path)
    await driver.store(STORE, [json_payload(transcript(30))])
    before = driver.counters.object_bytes_written
    step_31 = json_payload(transcript(31))
    await driver.store(STORE, [step_31])
    written = driver.counters.object_bytes_written - before
    # One new 2 KB reply, one small tool result, the rewritten last block and root: not 31 replies.
    assert written < 8_000 < step_31.ByteSize() / 8
    assert driver.counters.payload_bytes_stored > 60 * 2048


async def test_identical_payloads_are_one_object(tmp_path: Path) -> None:
    first, second = driver_at(tmp_path), driver_at(tmp_path)
    payload = json_payload(transcript(2))
    [a] = await first.store(STORE, [payload])
    files = len(stored_files(tmp_path))
    [b] = await second.store(STORE, [payload])
    assert a == b and len(stored_files(tmp_path)) == files
    assert second.counters.objects_written == 0
    assert not [path for path in stored_files(tmp_path) if path.name.endswith(".tmp")]


async def test_opaque_payloads_are_stored_whole(tmp_path: Path) -> None:
    driver = driver_at(tmp_path)
    payload = Payload(
        metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"k1"}, data=os.urandom(5000)
    )
    [claim] = await driver.store(STORE, [payload])
    assert len(stored_files(tmp_path)) == 1
    assert (await driver_at(tmp_path).retrieve(RETRIEVE, [claim])) == [payload]


async def test_a_changed_object_is_refused(tmp_path: Path) -> None:
    [claim] = await driver_at(tmp_path).store(STORE, [json_payload(transcript(3))])
    victim = max(stored_files(tmp_path), key=lambda p: p.stat().st_size)
    victim.write_bytes(victim.read_bytes().replace(b"x", b"y", 1))
    with pytest.raises(PayloadStoreError, match="does not match its hash"):
        await driver_at(tmp_path).retrieve(RETRIEVE, [claim])


async def test_a_missing_object_is_an_error_not_a_guess(tmp_path: Path) -> None:
    [claim] = await driver_at(tmp_path).store(STORE, [json_payload(transcript(3))])
    for path in stored_files(tmp_path):
        path.unlink()
    with pytest.raises(PayloadStoreError, match="missing"):
        await driver_at(tmp_path).retrieve(RETRIEVE, [claim])
    with pytest.raises(PayloadStoreError, match="not a content-addressed claim"):
        await driver_at(tmp_path).retrieve(RETRIEVE, [StorageDriverClaim(claim_data={"sha256": "../etc"})])


class InMemoryS3(S3StorageDriverClient):
    """Stands in for the network client of one bucket (the adapter's unit test only)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    async def put_object(self, *, bucket: str, key: str, data: bytes) -> None:
        self.objects.setdefault((bucket, key), data)

    async def object_exists(self, *, bucket: str, key: str) -> bool:
        return (bucket, key) in self.objects

    async def get_object(self, *, bucket: str, key: str) -> bytes:
        return self.objects[(bucket, key)]


async def test_the_same_driver_on_an_s3_bucket() -> None:
    s3 = InMemoryS3()
    driver = ContentAddressedDriver(S3ObjectStore(s3, "payloads", prefix="p/"))
    payload = json_payload(transcript(4))
    [claim] = await driver.store(STORE, [payload])
    assert all(bucket == "payloads" and key.startswith("p/") for bucket, key in s3.objects)
    fresh = ContentAddressedDriver(S3ObjectStore(s3, "payloads", prefix="p/"))
    assert await fresh.retrieve(RETRIEVE, [claim]) == [payload]
    with pytest.raises(PayloadStoreError, match="bucket payloads/p/"):
        await ContentAddressedDriver(S3ObjectStore(InMemoryS3(), "payloads", prefix="p/")).retrieve(
            RETRIEVE, [claim]
        )


ACTIVITY = ActivitySerializationContext(
    namespace="default",
    workflow_id="agent-7/run.1",
    workflow_type="AgentWorkflow",
    activity_type="llm.complete",
    activity_id="3",
    activity_task_queue="q",
    is_local=False,
)
FOR_WORKFLOW = StorageDriverStoreContext(
    target=StorageDriverWorkflowInfo(namespace="default", id="agent-7/run.1", type="AgentWorkflow")
)


def between_workflow_and_activity(converter: DataConverter) -> DataConverter:
    """The converter as the worker uses it for an activity's input or result."""
    return converter._with_contexts(ACTIVITY, FOR_WORKFLOW)


async def test_the_converter_stores_only_big_activity_payloads(settings: Settings) -> None:
    settings = settings.model_copy(update={"payload_store_threshold_bytes": 8192})
    converter = build_data_converter(settings)
    assert converter.external_storage is not None
    activity = between_workflow_and_activity(converter)
    [small] = await activity.encode([transcript(0)])
    [big] = await activity.encode([transcript(10)])
    assert json.loads(small.data)["step"] == "agent step 1"  # inline JSON
    assert big.ByteSize() < 400 and b"sha256" in big.data  # a reference
    assert await converter.decode([big], [LLMRequest]) == [transcript(10)]
    assert stored_files(settings.payload_store_dir / "wf" / workflow_scope("agent-7/run.1"))
    # The same payload as a workflow's result, a query's answer or an update's: plain JSON.
    workflow = converter._with_contexts(
        WorkflowSerializationContext(namespace="default", workflow_id="agent-7/run.1"), FOR_WORKFLOW
    )
    [public] = await workflow.encode([transcript(10)])
    assert not public.external_payloads and json.loads(public.data)["step"] == "agent step 11"
    [no_context] = await converter.encode([transcript(10)])  # a client's start, signal, update
    assert not no_context.external_payloads
    off = build_data_converter(settings.model_copy(update={"payload_store": "off"}))
    assert off.external_storage is None


async def test_a_public_payload_near_temporals_limit_is_stored_rather_than_failing(
    settings: Settings,
) -> None:
    converter = build_data_converter(settings)
    huge = transcript(40, reply_bytes=50_000)
    [payload] = await converter.encode([huge])
    assert payload.external_payloads  # over 1.8 MB: inline it would fail the run
    assert await converter.decode([payload], [LLMRequest]) == [huge]


async def test_objects_are_kept_per_workflow_and_older_references_still_resolve(tmp_path: Path) -> None:
    payload = json_payload(transcript(6))
    [scoped] = await driver_at(tmp_path).store(FOR_WORKFLOW, [payload])
    assert scoped.claim_data["workflow_id"] == "agent-7/run.1"
    scope = tmp_path / "wf" / "agent-7%2Frun%2E1"
    assert stored_files(tmp_path) == stored_files(scope)
    # A reference written before objects were kept per workflow: flat layout, claim without an id.
    [flat] = await driver_at(tmp_path).store(STORE, [payload])
    assert set(flat.claim_data) == {"sha256"} and (tmp_path / flat.claim_data["sha256"][:2]).is_dir()
    fresh = driver_at(tmp_path)
    assert await fresh.retrieve(RETRIEVE, [scoped, flat]) == [payload, payload]


def test_workflow_ids_become_one_safe_folder_name() -> None:
    assert workflow_scope("..") == "%2E%2E"
    assert workflow_scope("a/b") == "a%2Fb" and scope_workflow_id("a%2Fb") == "a/b"
    long_id = "x" * 300
    hashed = workflow_scope(long_id)
    assert hashed.startswith("~") and len(hashed) == 65 and scope_workflow_id(hashed) is None


async def test_a_hashed_scope_records_its_workflow_id(tmp_path: Path) -> None:
    long_id = "research-" + "y" * 300
    context = StorageDriverStoreContext(target=StorageDriverWorkflowInfo(namespace="default", id=long_id))
    await driver_at(tmp_path).store(context, [json_payload(transcript(3))])
    [scope] = (tmp_path / "wf").iterdir()
    assert (scope / "workflow-id").read_text() == long_id


async def test_with_encryption_the_store_holds_ciphertext(settings: Settings) -> None:
    key = "k1:" + base64.b64encode(bytes(range(32))).decode()
    keyed = settings.model_copy(
        update={"payload_keys": SecretStr(key), "payload_store_dir": settings.payload_store_dir / "enc"}
    )
    converter = build_data_converter(keyed)
    request = transcript(10)
    [reference] = await between_workflow_and_activity(converter).encode([request])
    assert b"sha256" in reference.data and b"step 3" not in reference.data
    files = stored_files(keyed.payload_store_dir)
    assert len(files) == 1  # encrypted before it is stored: one opaque object
    assert b"step 3" not in files[0].read_bytes() and b"binary/encrypted" in files[0].read_bytes()
    assert await converter.decode([reference], [LLMRequest]) == [request]


async def test_a_payload_stored_before_is_not_cut_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replays and retries encode the same requests again: cutting a long transcript once is enough."""
    cuts: list[int] = []
    real_split = payload_store.split_json

    def counting_split(
        data: bytes, min_object_bytes: int, array_block: int, memory: CutMemory | None = None
    ) -> tuple[str, dict[str, bytes]] | None:
        cuts.append(len(data))
        return real_split(data, min_object_bytes, array_block, memory)

    monkeypatch.setattr(payload_store, "split_json", counting_split)
    driver, payload = driver_at(tmp_path), json_payload(transcript(5))
    [first] = await driver.store(STORE, [payload])
    [again] = await driver.store(STORE, [payload])
    assert first == again and len(cuts) == 1
    restarted = driver_at(tmp_path)  # a new process cuts it once more and finds every object there
    assert await restarted.store(STORE, [payload]) == [first]
    assert len(cuts) == 2 and restarted.counters.objects_written == 0
