"""Builds the configured provider from settings (once per worker process)."""

from __future__ import annotations

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.anthropic import DEFAULT_ANTHROPIC_MODEL, AnthropicProvider
from activities.llm.providers.base import LLMProvider
from activities.llm.providers.offline import OfflineProvider
from activities.llm.providers.openai import DEFAULT_OPENAI_MODEL, OpenAICompatibleProvider
from common.settings import Settings


def build_provider(settings: Settings) -> LLMProvider:
    """The provider `LLM_PROVIDER` names. Settings validation has already checked that the provider
    has what it needs (an API key for anthropic, a base URL for openai)."""
    if settings.provider == "anthropic":
        assert settings.anthropic_api_key is not None
        return AnthropicProvider(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            default_model=settings.llm_model or DEFAULT_ANTHROPIC_MODEL,
        )
    if settings.provider == "openai":
        assert settings.openai_base_url is not None
        return OpenAICompatibleProvider(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            default_model=settings.llm_model or DEFAULT_OPENAI_MODEL,
        )
    return OfflineProvider()


def build_llm_activities(settings: Settings) -> LLMActivities:
    return LLMActivities(
        build_provider(settings), PriceTable.load(settings.llm_pricing_file), settings.llm_model
    )
