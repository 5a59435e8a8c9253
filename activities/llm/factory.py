"""Builds the configured provider from settings (once per worker process)."""

from __future__ import annotations

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.base import LLMProvider
from activities.llm.providers.offline import OfflineProvider
from common.settings import Settings


def build_provider(settings: Settings) -> LLMProvider:
    if settings.provider == "offline":
        return OfflineProvider()
    raise NotImplementedError(f"LLM_PROVIDER={settings.provider} is not available yet")


def build_llm_activities(settings: Settings) -> LLMActivities:
    return LLMActivities(
        build_provider(settings), PriceTable.load(settings.llm_pricing_file), settings.llm_model
    )
