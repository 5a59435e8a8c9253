"""A workflow of your own names its LLM steps: `LLMRequest.step_kind` is any string, and the offline
model answers a kind it does not know with a deterministic reply that says what it answered."""

import pytest
from pydantic import ValidationError

from activities.llm.models import KNOWN_STEP_KINDS, LLMRequest, Message, TextBlock
from activities.llm.providers.offline import OfflineProvider


async def reply_text(request: LLMRequest) -> str:
    reply = await OfflineProvider().complete(request, "offline-model", lambda: None)
    assert reply.stop_reason == "end_turn"
    (block,) = reply.content
    assert isinstance(block, TextBlock)
    return block.text


def request(kind: str, text: str, system: str = "Classify the ticket.") -> LLMRequest:
    return LLMRequest(system=system, messages=[Message.user_text(text)], step_kind=kind)


async def test_an_unknown_kind_gets_a_deterministic_reply_that_echoes_the_request() -> None:
    ticket = "Billing:   I was charged\ntwice for order 1234."
    first = await reply_text(request("classify", ticket))
    assert first == await reply_text(request("classify", ticket))
    assert first.startswith("[offline model] classify (ref ")
    assert first.endswith("): Billing: I was charged twice for order 1234.")
    # The digest covers the whole request, the system prompt too.
    assert first != await reply_text(request("classify", ticket, system="Another prompt."))
    assert (await reply_text(request("draft_reply", ticket))).startswith("[offline model] draft_reply (ref ")


async def test_the_known_kinds_are_answered_as_before() -> None:
    assert "classify" not in KNOWN_STEP_KINDS and {"plan", "chat", "answer"} <= set(KNOWN_STEP_KINDS)
    assert await reply_text(request("chat", "hello there")) == "[offline model] hello there"
    assert (await reply_text(request("plan", "tides"))).startswith('["Background and definitions of tides"')


@pytest.mark.parametrize("kind", ["", "x" * 101])
def test_a_step_kind_is_a_short_non_empty_label(kind: str) -> None:
    with pytest.raises(ValidationError, match="step_kind"):
        request(kind, "text")
