"""The payload store's incremental cut: a driver remembers what earlier cuts made of values and full
array blocks (`CutMemory`), so a growing transcript's old messages are looked up, not cut again. What
it remembers must never change what is stored: a cut with memory is the cut without, a lookup matches
only the very same text, and a remembered message still goes into every workflow scope that uses it."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import StorageDriverStoreContext, StorageDriverWorkflowInfo

from common import payload_store
from common.payload_store import (
    ContentAddressedDriver,
    CutMemory,
    LocalObjectStore,
    join_json,
    split_json,
    workflow_scope,
)


def compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def message(step: int, text_bytes: int) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": [
            {"type": "text", "text": f"step {step}: naïve 漢字 🚀 " + "x" * text_bytes},
            {"type": "tool_use", "id": f"toolu_{step}", "name": "calculator", "input": {"n": step}},
        ],
    }


def request(messages: list[dict[str, Any]]) -> dict[str, Any]:
    tools = [{"name": f"tool_{i}", "description": "d" * 400, "schema": {"type": "object"}} for i in range(12)]
    return {"system": "be careful", "messages": messages, "tools": tools, "temperature": 0.7}


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice([1, -2.5, True, None, "s" * rng.randint(0, 400), 'é🚀\n"\\', 10**20, 1e-7])
    if roll < 0.65:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 12))]
    return {f"k{i}": random_value(rng, depth + 1) for i in range(rng.randint(0, 8))}


SIZES = [(1, 1), (16, 2), (64, 4), (300, 8), (1024, 8)]


@pytest.mark.parametrize(("min_object_bytes", "array_block"), SIZES)
def test_a_cut_with_memory_is_the_cut_without(min_object_bytes: int, array_block: int) -> None:
    """Documents are cut twice over a shared memory (the second time every value is a lookup) and
    once without: the root and the objects are the same, and joining gives back the exact bytes."""
    rng = random.Random(min_object_bytes)
    memory = CutMemory(min_object_bytes, array_block, capacity_bytes=1 << 20)
    messages: list[dict[str, Any]] = []
    documents = [random_value(rng) for _ in range(150)]
    for step in range(40):
        messages.append(message(step, rng.choice([10, 300, 2000])))
        documents.append(request(messages))
    for document in documents:
        if not isinstance(document, dict | list):
            continue
        data = compact(document)
        fresh = split_json(data, min_object_bytes, array_block)
        assert fresh is not None
        assert split_json(data, min_object_bytes, array_block, memory) == fresh
        assert split_json(data, min_object_bytes, array_block, memory) == fresh
        root, objects = fresh
        assert join_json(root, objects).encode() == data


def test_text_with_whitespace_is_cut_to_the_same_value() -> None:
    memory = CutMemory(64, 2, capacity_bytes=1 << 20)
    document = request([message(step, 100) for step in range(5)])
    for data in (json.dumps(document, indent=2).encode(), json.dumps(document).encode()):
        cut = split_json(data, 64, 2, memory)
        assert cut is not None and cut == split_json(data, 64, 2)
        assert json.loads(join_json(*cut)) == document


def test_a_lookup_matches_only_the_whole_text() -> None:
    """Values and blocks that start alike (further than the memory's index reaches) but end
    otherwise: a remembered one must not stand in for the other."""
    memory = CutMemory(64, 8, capacity_bytes=1 << 20)
    shared = "x" * 3000
    first = compact({"messages": [{"text": shared + "A"}], "n": 1})
    second = compact({"messages": [{"text": shared + "B"}], "n": 1})
    # A block whose last element is a number: `...,8` is the start of `...,89`.
    strings = ["s" * 100 + str(i) for i in range(7)]
    third = compact({"list": [*strings, 8, "tail"]})
    fourth = compact({"list": [*strings, 89, "tail"]})
    for data in (first, second, third, fourth):
        cut = split_json(data, 64, 8, memory)
        assert cut is not None and cut == split_json(data, 64, 8)
        assert join_json(*cut).encode() == data
    assert len(memory) >= 3  # the first message, the second and the first block were remembered


def hashed_bytes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real = payload_store.sha256_hex

    def counting(data: bytes) -> str:
        sizes.append(len(data))
        return real(data)

    monkeypatch.setattr(payload_store, "sha256_hex", counting)
    return sizes


def test_a_step_hashes_only_what_is_new(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost that grew with the transcript: every big node dumped and hashed on every step. With
    the memory a step hashes its new message, the last block and the root."""
    memory = CutMemory(1024, 8, capacity_bytes=1 << 24)
    messages = [message(step, 2000) for step in range(60)]
    split_json(compact(request(messages)), 1024, 8, memory)
    sizes = hashed_bytes(monkeypatch)
    messages.append(message(60, 2000))
    data = compact(request(messages))
    cut = split_json(data, 1024, 8, memory)
    assert cut is not None
    new_message = len(compact(messages[-1]))
    assert sum(sizes) < 2 * new_message + 2000 < len(data) / 20, sizes
    sizes.clear()
    assert split_json(data, 1024, 8) == cut  # without the memory: every message hashed again
    assert sum(sizes) > len(data) / 2


@pytest.mark.parametrize("min_object_bytes", [1, 1024])
@pytest.mark.parametrize(
    "document",
    [
        {"a": [{"$sha256": "00"}], "b": "x" * 5000},
        {"a": [{"b": "$blocks"}], "b": "x" * 5000},
        {"big": {"deep": ["$sha256"], "pad": "x" * 3000}},
    ],
)
def test_documents_holding_the_reference_keys_are_not_cut(
    document: dict[str, Any], min_object_bytes: int
) -> None:
    memory = CutMemory(min_object_bytes, 8, capacity_bytes=1 << 20)
    assert split_json(compact(document), min_object_bytes, 8, memory) is None
    escaped = compact(document).replace(b'"$', b'"\\u0024')  # the same strings, spelled with escapes
    assert split_json(escaped, min_object_bytes, 8, memory) is None


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": "\xff\xfe"}',  # not UTF-8
        b'{"a": "' + b"x" * 5000 + b'\xc3"}',  # not UTF-8, inside an object of its own
        b'{"a": 1} trailing',
        b"[1,]",
        b'{"a" 1}',
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the walk goes: stored whole, no crash
        b"",
    ],
)
def test_what_is_not_utf8_json_is_not_cut(data: bytes) -> None:
    assert split_json(data, 16, 2, CutMemory(16, 2, capacity_bytes=1 << 20)) is None


def test_the_memory_stays_within_its_capacity() -> None:
    capacity = 200_000
    memory = CutMemory(64, 4, capacity_bytes=capacity)
    rng = random.Random(7)
    for _ in range(300):
        data = compact(request([message(rng.randrange(10**9), 500) for _message in range(6)]))
        cut = split_json(data, 64, 4, memory)
        assert cut is not None and join_json(*cut).encode() == data
        assert memory.size <= capacity
    assert 0 < len(memory) < 300 * 6
    with pytest.raises(ValueError, match="other object and block sizes"):
        split_json(data, 64, 8, memory)


def context(workflow_id: str, run_id: str) -> StorageDriverStoreContext:
    return StorageDriverStoreContext(
        target=StorageDriverWorkflowInfo(namespace="default", id=workflow_id, type="Agent", run_id=run_id)
    )


def payload(value: Any) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=compact(value))


async def test_a_remembered_message_is_written_into_each_workflows_scope(tmp_path: Path) -> None:
    """Objects are kept per workflow (and swept per workflow): a message the driver remembers from
    workflow A's request must still be written into B's scope when B's request holds it."""
    driver = ContentAddressedDriver(LocalObjectStore(tmp_path))
    shared = [message(step, 2000) for step in range(20)]
    await driver.store(context("agent-a", "run-a"), [payload(request(shared))])
    written = driver.counters.objects_written
    b_request = payload(request([*shared, message(99, 2000)]))
    [claim] = await driver.store(context("agent-b", "run-b"), [b_request])
    assert driver.counters.objects_written - written > 20  # every shared message, again, in B's scope
    shutil.rmtree(tmp_path / "wf" / workflow_scope("agent-a"))  # A's scope swept
    fresh = ContentAddressedDriver(LocalObjectStore(tmp_path))  # another process: nothing cached
    assert await fresh.retrieve(payload_store.StorageDriverRetrieveContext(), [claim]) == [b_request]
