"""Delivery fixtures: `DeliveryActivities` built from the test's settings, pointed at the test's
SMTP server and a ledger file in the test's temporary directory, closed after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from activities.delivery.activity import DeliveryActivities
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
