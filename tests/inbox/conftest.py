"""Inbox fixtures: reviewers with real (cheap-parameter) scrypt hashes and inbox settings."""

from __future__ import annotations

import pytest

from common.settings import Settings, try_load_settings
from inbox.passwords import hash_password

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
