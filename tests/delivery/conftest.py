"""Delivery fixtures: `DeliveryActivities` built from the test's settings, pointed at the test's
SMTP server and a ledger file in the test's temporary directory, closed after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from activities.delivery.activity import DeliveryActivities
from activities.resources import WorkerResources, using
from activities.tools.models import SideEffectToolInput, ToolObservation
from activities.tools.send_email import send_email
from activities.tools.send_webhook import send_webhook
from common.settings import Settings
from tests.fakes.receivers import SmtpServer


@pytest.fixture
def delivery_settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return settings.model_copy(
        update={"smtp_host": smtp_server.host, "smtp_port": smtp_server.port, "delivery_timeout_s": 5.0}
    )


@pytest_asyncio.fixture
async def deliveries(delivery_settings: Settings) -> AsyncIterator[DeliveryActivities]:
    activities = DeliveryActivities.from_settings(delivery_settings)
    try:
        yield activities
    finally:
        await activities.aclose()


from tests.fakes.receivers import hostile, hostile_server  # noqa: E402, F401 - hostile HTTP server


class SideEffectTools:
    """The `send_webhook` / `send_email` tool activities, run outside a worker (e.g. with
    `ActivityEnvironment`) with these deliveries as the worker's shared senders."""

    def __init__(self, deliveries: DeliveryActivities) -> None:
        self._resources = WorkerResources(Settings.model_construct())
        self._resources.provide("deliveries", deliveries)

    async def send_webhook(self, request: SideEffectToolInput) -> ToolObservation:
        with using(self._resources):
            return await send_webhook.activity(request)

    async def send_email(self, request: SideEffectToolInput) -> ToolObservation:
        with using(self._resources):
            return await send_email.activity(request)


def tools_of(deliveries: DeliveryActivities) -> SideEffectTools:
    return SideEffectTools(deliveries)
