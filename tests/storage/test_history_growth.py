"""Through a real worker on the dev server: an agent's history grows linearly with its iterations
(its transcript goes to the payload store, history keeps references), and the runs replay with
the same converter, in a fresh process too, but not without the store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from temporalio.api.history.v1 import History
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from activities.llm.models import LLMRequest
from common.converter import build_data_converter, storage_for
from common.payload_store import LocalObjectStore
from common.settings import Settings
from tests.storage.stored_agent import run_agent, store_worker
from workflows.registry import WORKFLOWS

REPLY_BYTES = 2048


def fresh_process_converter(settings: Settings) -> DataConverter:
    """The product converter with a new driver (empty cache), as a restarted worker would have."""
    converter = build_data_converter(settings)
    store = LocalObjectStore(settings.payload_store_dir.resolve())
    storage = storage_for(store, settings.payload_store_threshold_bytes)
    return dataclasses.replace(converter, external_storage=storage)


async def test_agent_history_is_linear_and_replays_from_the_store(
    dev_client: Client, settings: Settings, task_queue: str
) -> None:
    # Below the 2 KB replies: the model's answers (activity results, which replay reads) go to the
    # store too, not only the requests (which replay never decodes).
    settings = settings.model_copy(update={"payload_store_threshold_bytes": 2000})
    async with store_worker(dev_client, settings, REPLY_BYTES) as client:
        short = await run_agent(client, task_queue, 4)
        long = await run_agent(client, task_queue, 16)
    converter = client.data_converter

    short_bytes, long_bytes = (History(events=h.events).ByteSize() for h in (short, long))
    # Inline, 16 transcripts of up to 16 replies would be ~16 * 8 * 2 KB = 260 KB and 12x the 4-step
    # history; with references each step adds a constant amount.
    assert long_bytes / short_bytes < 16 / 4 * 1.25, (short_bytes, long_bytes)
    per_step = (long_bytes - short_bytes) / 12
    assert per_step < REPLY_BYTES + 4000, per_step

    requests = [
        event.activity_task_scheduled_event_attributes.input.payloads[0]
        for event in long.events
        if event.activity_task_scheduled_event_attributes.activity_type.name == "llm.complete"
    ]
    assert len(requests) == 16
    assert all(p.ByteSize() < settings.payload_store_threshold_bytes for p in requests)
    referenced = [p for p in requests if p.external_payloads]
    assert len(referenced) == 15  # every transcript but the first (goal + tool spec only)
    replies = [
        event.activity_task_completed_event_attributes.result.payloads[0]
        for event in long.events
        if event.activity_task_completed_event_attributes.HasField("result")
    ]
    assert sum(1 for p in replies if p.external_payloads) == 16  # the model's replies; tool results stay
    [last] = await converter.decode([referenced[-1]], [LLMRequest])
    assert len(last.messages) == 31  # goal + 15 replies + 15 tool results: the whole transcript

    await Replayer(workflows=WORKFLOWS, data_converter=converter).replay_workflow(long)
    await Replayer(workflows=WORKFLOWS, data_converter=fresh_process_converter(settings)).replay_workflow(
        long
    )

    elsewhere = settings.model_copy(
        update={"payload_store_dir": Path(settings.payload_store_dir.parent / "empty")}
    )
    with pytest.raises(Exception, match="missing"):
        await Replayer(
            workflows=WORKFLOWS, data_converter=fresh_process_converter(elsewhere)
        ).replay_workflow(long)
