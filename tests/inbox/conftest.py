"""Inbox fixtures: reviewers with real (cheap-parameter) scrypt hashes, inbox settings, one headless
Chromium per session, and the inbox served by uvicorn against the dev server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser
from temporalio.testing import WorkflowEnvironment

from common.settings import Settings, try_load_settings
from inbox.passwords import hash_password
from tests.inbox.browser import chromium, served_inbox

PASSWORDS = {"alice": "correct horse battery", "bob": "staple 42", "carol": "tr0ub4dor&3"}


@pytest.fixture(scope="session")
def reviewers_setting() -> str:
    # n=2**10 keeps each check ~1 ms; the format and the code path are the production ones.
    return ",".join(f"{name}:{hash_password(pw, n=2**10)}" for name, pw in PASSWORDS.items())


@pytest.fixture
def inbox_settings(settings: Settings, reviewers_setting: str) -> Settings:
    return try_load_settings(
        temporal_task_queue=settings.temporal_task_queue,
        llm_provider="offline",
        inbox_reviewers=reviewers_setting,
        inbox_secret_key="test-secret-key-for-signing-cookies",
        _env_file=None,
    )


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the whole session; each test opens its own context (cookies)."""
    async with chromium() as launched:
        yield launched


@pytest_asyncio.fixture
async def inbox_url(inbox_settings: Settings, dev_server_env: WorkflowEnvironment) -> AsyncIterator[str]:
    """The inbox served by uvicorn on 127.0.0.1, connected to the session's dev server."""
    target = dev_server_env.client.service_client.config.target_host
    async with served_inbox(inbox_settings.model_copy(update={"temporal_address": target})) as url:
        yield url
