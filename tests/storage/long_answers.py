"""A real product worker whose model answers at length: the offline model, with its final agent
answers and research reports padded to `answer_bytes`, as a real model's research report often is.
Used wherever a run's result must be bigger than the payload store's threshold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client

from activities.llm.models import LLMRequest, ProviderReply, TextBlock
from activities.llm.providers.base import Heartbeat
from activities.llm.providers.offline import OFFLINE_MODEL, OfflineProvider
from common.converter import build_data_converter
from common.settings import Settings
from tests.storage.stored_agent import with_model
from worker.app import build_worker

FILLER = "The findings, in full detail, continue here. "


class LongAnswerModel:
    name = "offline"
    default_model = OFFLINE_MODEL

    def __init__(self, answer_bytes: int) -> None:
        self._offline = OfflineProvider()
        self._answer_bytes = answer_bytes

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        reply = await self._offline.complete(request, model, heartbeat)
        final = reply.stop_reason == "end_turn" and request.step_kind in ("agent", "synthesize")
        if final and reply.content and isinstance(reply.content[0], TextBlock):
            text = reply.content[0].text
            padding = FILLER * (self._answer_bytes // len(FILLER) + 1)
            reply.content[0] = TextBlock(text=(text + "\n\n" + padding)[: max(len(text), self._answer_bytes)])
        return reply


@asynccontextmanager
async def long_answer_worker(
    dev_client: Client, settings: Settings, answer_bytes: int
) -> AsyncIterator[Client]:
    """A client with the product converter for `settings` and a worker on its task queue running every
    workflow, with the long-answer model, the read-only tools, deliveries and approval notices."""
    client = Client(
        dev_client.service_client,
        namespace=dev_client.namespace,
        data_converter=build_data_converter(settings),
    )
    activities = with_model(settings, LongAnswerModel(answer_bytes))
    async with build_worker(client, settings, activities=activities):
        yield client
