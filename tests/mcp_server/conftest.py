"""One product (a real worker with the test corpus indexed) for every MCP server test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.mcp_server.support import Product, running_product


@pytest_asyncio.fixture(scope="package")
async def product(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Product]:
    async with running_product(dev_server_env.client, tmp_path_factory.mktemp("mcp-server")) as running:
        yield running
