"""A client and worker with the product's data converter (common/converter.py): the one that turns a
payload that does not fit its model into a one-line `InvalidInput`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.worker import Worker

from common.converter import product_data_converter
from common.settings import Settings
from worker.app import build_worker


@pytest.fixture
def product_client(dev_client: Client) -> Client:
    config = dev_client.config()
    config["data_converter"] = product_data_converter
    return Client(**config)


@pytest_asyncio.fixture
async def offline_worker(product_client: Client, settings: Settings) -> AsyncIterator[Worker]:
    async with build_worker(product_client, settings) as worker:
        yield worker
