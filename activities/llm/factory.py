"""Builds the configured provider from settings (once per worker process)."""

from __future__ import annotations

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.base import LLMProvider
from activities.spend.guard import TenantSpend
from activities.spend.rate_limit import rate_limiter_from
from common.settings import Settings

__all__ = ["build_llm_activities", "build_provider"]


def build_provider(settings: Settings) -> LLMProvider:
    """The provider `LLM_PROVIDER` names. Settings validation has already checked that the provider
    has what it needs (an API key for anthropic, a base URL for openai, a script that parses for
    scripted).

    Each provider's module is imported only when it is the one configured: the `anthropic` SDK alone
    takes longer to import than the rest of the worker together (about 1.8 s of a 3.2 s start on a
    2-core machine), and a replacement worker's start-up is part of every crash recovery."""
    if settings.provider == "anthropic":
        from activities.llm.providers.anthropic import DEFAULT_ANTHROPIC_MODEL, AnthropicProvider

        assert settings.anthropic_api_key is not None
        return AnthropicProvider(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            default_model=settings.llm_model or DEFAULT_ANTHROPIC_MODEL,
        )
    if settings.provider == "openai":
        from activities.llm.providers.openai import DEFAULT_OPENAI_MODEL, OpenAICompatibleProvider

        assert settings.openai_base_url is not None
        return OpenAICompatibleProvider(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            default_model=settings.llm_model or DEFAULT_OPENAI_MODEL,
        )
    if settings.provider == "scripted":
        from activities.llm.providers.scripted import ScriptedProvider

        assert settings.llm_script_file is not None
        return ScriptedProvider.from_file(settings.llm_script_file)
    from activities.llm.providers.offline import OfflineProvider

    return OfflineProvider()


def build_llm_activities(settings: Settings) -> LLMActivities:
    # Model names are looked up among the configured provider's prices first (genai-prices ids);
    # an OpenAI-compatible server may serve anyone's models, so its names are matched everywhere.
    provider_id = "anthropic" if settings.provider == "anthropic" else None
    return LLMActivities(
        build_provider(settings),
        PriceTable.load(settings.llm_pricing_file, provider_id=provider_id),
        settings.llm_model,
        rate_limiter=rate_limiter_from(settings),
        spend=TenantSpend.from_settings(settings),
    )
