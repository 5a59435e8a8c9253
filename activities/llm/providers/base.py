from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from common.contracts.llm import LLMRequest, ProviderReply

__all__ = ["Heartbeat", "LLMProvider"]

Heartbeat = Callable[[], None]


class LLMProvider(Protocol):
    name: str
    default_model: str

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        """One model call. `heartbeat` is called while output arrives, so a stalled call is noticed."""
        ...
