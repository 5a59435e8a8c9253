"""Key rotation: a run started under key ring [k1] completes on a worker whose ring is [k1, k2]
(k2 now the newest), and its history, written under both keys, replays with the rotated ring."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from common.converter import encrypted_data_converter
from common.encryption import PayloadDecryptionError, new_key_entry
from common.settings import Settings
from starter import api
from tests.security.history import client_with_keys, payload_key_ids, raw_history
from worker.app import build_worker
from workflows.models import ResearchInput, ResearchResult
from workflows.registry import WORKFLOWS

K1, K2 = new_key_entry("k1"), new_key_entry("k2")
SECRET = "canary-rotation-2b7e"


async def wait_for_event(handle: WorkflowHandle, event_type: EventType.ValueType) -> None:
    """Returns once the history holds an event of this type (long-polls the server, no sleeping)."""
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event.event_type == event_type:
            return


async def test_runs_written_under_k1_complete_and_replay_after_k2_becomes_newest(
    dev_client: Client, settings: Settings, task_queue: str
) -> None:
    old_ring = client_with_keys(dev_client, K1)
    rotated_ring = client_with_keys(dev_client, f"{K1},{K2}")

    # Before the rotation: a k1-only worker (workflows, no activities) starts the run and schedules
    # the first LLM step; its input is written under k1.
    async with build_worker(old_ring, settings, activities=[]):
        handle = await api.start_research(
            old_ring, ResearchInput(topic=SECRET, max_subtopics=2), task_queue=task_queue
        )
        await wait_for_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)

    # After the rotation: a [k1, k2] worker finishes the run; what it writes is under k2.
    async with build_worker(rotated_ring, settings):
        result = await rotated_ring.get_workflow_handle(handle.id, result_type=ResearchResult).result()
    assert SECRET in result.report

    history, raw = await raw_history(dev_client, handle.id)
    assert payload_key_ids(history) == {"k1", "k2"}
    assert SECRET.encode() not in raw

    await Replayer(
        workflows=WORKFLOWS, data_converter=encrypted_data_converter(f"{K1},{K2}")
    ).replay_workflow(history)

    # A ring that dropped k1 too early cannot read the run's input: a clear error naming the key.
    k2_only = client_with_keys(dev_client, K2)
    with pytest.raises(PayloadDecryptionError, match="'k1'"):
        await k2_only.data_converter.decode(
            history.events[0].workflow_execution_started_event_attributes.input.payloads
        )
