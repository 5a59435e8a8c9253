"""pytest fixtures for the fake LLM servers (registered in the repo's conftest.py).

- `anthropic_server` / `openai_server`: a running server per test (`.base_url`, `.requests`,
  `.script(...)`, `.requests_per_step()`, `.release()`).
- `anthropic_settings` / `openai_settings`: this test's `settings` pointed at that server, so
  `worker.app.build_worker(client, anthropic_settings)` runs every workflow over the real protocol.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.openai_server import OpenAIServer


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicServer]:
    with AnthropicServer() as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def anthropic_settings(settings: Settings, anthropic_server: AnthropicServer) -> Settings:
    return settings.model_copy(
        update={
            "llm_provider": "anthropic",
            "anthropic_api_key": SecretStr("test-key"),
            "anthropic_base_url": anthropic_server.base_url,
        }
    )


@pytest.fixture
def openai_settings(settings: Settings, openai_server: OpenAIServer) -> Settings:
    return settings.model_copy(
        update={
            "llm_provider": "openai",
            "openai_base_url": openai_server.api_base,
            "openai_api_key": SecretStr("test-key"),
            "llm_model": "llama3.1",
        }
    )
