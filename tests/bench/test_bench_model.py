"""The bench's model (bench/model.py) counts a prompt's characters once per message object: the
usage it reports is the same as writing every message again, for a transcript that grows step by
step with the same objects, for transcripts that share a beginning and then part (a fork, a retry
with other messages) and for new messages that may take a freed message's place in memory. What it
keeps of a long prompt makes no object per message."""

from __future__ import annotations

import math
import weakref

from bench.model import BenchModel
from common.contracts.llm import LLMRequest, Message, TextBlock, ToolResultBlock, ToolUseBlock


def _written(request: LLMRequest) -> int:
    chars = sum(len(message.model_dump_json()) for message in request.messages) + len(request.system)
    return math.ceil(chars / 4)


async def test_a_growing_transcript_is_counted_as_if_written_whole() -> None:
    model = BenchModel()
    messages = [Message.user_text("the goal")]
    for turn in range(40):
        request = LLMRequest(system="be brief", messages=list(messages), step_kind="agent")
        reply = await model.complete(request, "claude-haiku-4-5", lambda *details: None)
        assert reply.usage.input_tokens == _written(request)
        messages += [
            Message(role="assistant", content=[*reply.content]),
            Message(
                role="user", content=[ToolResultBlock(tool_use_id=f"toolu_{turn}", content=str(turn) * turn)]
            ),
        ]


async def test_transcripts_that_share_their_first_message_and_then_part_are_each_counted_whole() -> None:
    model = BenchModel()
    # Long enough to be kept (a short prompt is written whole).
    start = [Message.user_text("the goal")] + [Message.user_text(f"note {i}") for i in range(20)]
    short = Message(role="assistant", content=[TextBlock(text="short")])
    longer = Message(role="assistant", content=[TextBlock(text="a much longer reply " * 20)])
    prompts = [
        [*start, short],
        [*start, longer],
        start,
        [*start, longer, short],
        [*start, short],
        [start[0], longer, *start[1:]],
    ]
    for messages in prompts:
        request = LLMRequest(system="", messages=messages, step_kind="agent")
        reply = await model.complete(request, "claude-haiku-4-5", lambda *details: None)
        assert reply.usage.input_tokens == _written(request)


async def test_a_new_message_in_a_freed_message_s_place_is_counted_anew() -> None:
    model = BenchModel()
    for size in range(1, 200):
        message = Message(role="assistant", content=[TextBlock(text="x" * size)])
        if size % 2:
            message = Message(
                role="assistant", content=[ToolUseBlock(id="t", name="calculator", input={"n": size})]
            )
        request = LLMRequest(system="", messages=[Message.user_text("goal"), message], step_kind="agent")
        reply = await model.complete(request, "claude-haiku-4-5", lambda *details: None)
        assert reply.usage.input_tokens == _written(request)
        del message, request  # a message holds no cycle: this frees it, and its id may be reused


async def test_a_kept_prompt_makes_no_object_per_message() -> None:
    """The messages after the first are held in one list, not each behind a weak reference (an
    object the worker's collector would track per message, on the product's side only)."""
    model = BenchModel()
    messages = [Message.user_text("the goal")] + [Message.user_text(f"note {i}") for i in range(30)]
    for size in (30, 31):
        request = LLMRequest(system="", messages=messages[:size], step_kind="agent")
        reply = await model.complete(request, "claude-haiku-4-5", lambda *details: None)
        assert reply.usage.input_tokens == _written(request)
    assert [weakref.getweakrefcount(message) for message in messages[1:]] == [0] * 30
