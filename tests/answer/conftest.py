"""A worker with the test corpus indexed, for the tests that ask it questions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client

from common.settings import Settings
from tests.answer.support import CORPUS, index_corpus, index_settings
from worker.app import build_worker


@pytest_asyncio.fixture
async def corpus_worker(ts_client: Client, settings: Settings, tmp_path: Path) -> AsyncIterator[Settings]:
    """A worker running on the time-skipping server with CORPUS indexed as `default`; its settings."""
    settings = index_settings(settings, tmp_path)
    async with build_worker(ts_client, settings):
        await index_corpus(ts_client, settings, CORPUS)
        yield settings
