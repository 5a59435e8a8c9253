from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from common.contracts.llm import LLMRequest, ProviderReply

__all__ = ["Heartbeat", "LLMProvider", "TextSink", "report_text", "reporting_text", "wants_text"]

Heartbeat = Callable[[], None]
TextSink = Callable[[str], None]


class LLMProvider(Protocol):
    name: str
    default_model: str

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        """One model call. `heartbeat` is called while output arrives, so a stalled call is noticed.
        A provider that streams calls `report_text` with each piece of reply text as it arrives."""
        ...


# Set by the activity for a call whose request has `stream_reply`. A context variable, not a
# `complete` argument: a provider that never reports text still works (its whole reply is published
# at the end), so every provider written against the three-argument `complete` stays valid.
_TEXT_SINK: ContextVar[TextSink | None] = ContextVar("llm_reply_text", default=None)


def report_text(text: str) -> None:
    """A piece of the reply's text, as the model wrote it (in order; reply.text() is their join).
    Nothing happens when nobody listens (the request did not ask for a streamed reply)."""
    sink = _TEXT_SINK.get()
    if sink is not None and text:
        sink(text)


def wants_text() -> bool:
    """Whether this call's text is being listened to (a provider may pace a local reply then)."""
    return _TEXT_SINK.get() is not None


@contextmanager
def reporting_text(sink: TextSink) -> Iterator[None]:
    """`report_text` calls go to `sink` inside the block (the activity's reply publisher)."""
    token = _TEXT_SINK.set(sink)
    try:
        yield
    finally:
        _TEXT_SINK.reset(token)
