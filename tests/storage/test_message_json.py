"""The converter's transcript JSON (common/message_json.py): a model holding a transcript is written
byte for byte as `pydantic_core.to_json` writes it, however the transcript changed since the last
time (grown, edited in place, shortened, messages gone), and an agent that continues-as-new sends the
model every message in order, through a real worker."""

from __future__ import annotations

import gc
import itertools
import math
import uuid
import weakref
from datetime import timedelta
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapSerializer, field_serializer
from pydantic_core import to_json
from temporalio.client import Client

from common import message_json
from common.contracts.llm import LLMRequest, Message, TextBlock, ToolResultBlock, ToolUseBlock
from common.converter import product_data_converter
from common.settings import Settings
from tests.kit.test_scripted_model import run_agent
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentConversation, AgentInput


def encoded(value: Any) -> bytes:
    (payload,) = product_data_converter.payload_converter.to_payloads([value])
    return payload.data


def turn(number: int) -> list[Message]:
    text = f'turn {number}: naïve café, emoji \U0001f600, quote " backslash \\ tab \t, \u2028 line'
    use = ToolUseBlock(id=f"toolu_{number}", name="calculator", input={"expression": f"{number} + 1.5"})
    nested = ToolUseBlock(
        id=f"toolu_n{number}", name="lookup", input={"deep": {"list": [1, 2.25, None, "x"]}}
    )
    return [
        Message(role="assistant", content=[TextBlock(text=text), use, nested]),
        Message(
            role="user", content=[ToolResultBlock(tool_use_id=f"toolu_{number}", content=f"{number + 1.5}")]
        ),
    ]


def request(messages: list[Message], step: int) -> LLMRequest:
    return LLMRequest(
        model="m", system="sys \u00e9", messages=messages, step_kind="agent", step=f"llm step {step}"
    )


def test_a_growing_transcript_is_written_as_pydantic_writes_it() -> None:
    messages = [Message.user_text("goal: ünïcode")]
    for step in range(12):
        sent = request(messages, step)
        assert encoded(sent) == to_json(sent)
        messages += turn(step)
    conversation = AgentConversation(messages=messages)
    assert encoded(conversation) == to_json(conversation)


def test_a_transcript_changed_in_place_is_written_again() -> None:
    messages = [Message.user_text("goal"), *turn(0), *turn(1)]
    assert encoded(request(messages, 1)) == to_json(request(messages, 1))

    messages[2].content.append(TextBlock(text="added to a sent message"))  # same message, longer list
    assert b"added to a sent message" in encoded(request(messages, 2))
    messages[1].content[0] = TextBlock(text="replaced block")  # same list, another block
    sent = request(messages, 3)
    assert encoded(sent) == to_json(sent) and b"replaced block" in encoded(sent)

    shortened = messages[:2]  # an edited transcript: a prefix of the last one
    assert encoded(request(shortened, 4)) == to_json(request(shortened, 4))
    branched = [*messages[:3], Message.user_text("another branch")]
    assert encoded(request(branched, 5)) == to_json(request(branched, 5))


def test_messages_and_blocks_are_frozen() -> None:
    message = Message.user_text("hello")
    with pytest.raises(ValidationError):
        message.content[0].text = "changed"  # type: ignore[union-attr,misc]
    with pytest.raises(ValidationError):
        message.role = "assistant"  # type: ignore[misc]


def test_a_message_that_died_is_never_taken_for_a_new_one() -> None:
    first = Message.user_text("goal")
    middle = turn(0)
    assert encoded(request([first, *middle], 0)) == to_json(request([first, *middle], 0))
    del middle
    gc.collect()
    for step in range(1, 50):  # new messages, some of them at the dead ones' addresses
        fresh = turn(step)
        sent = request([first, *fresh], step)
        assert encoded(sent) == to_json(sent)


def test_what_a_transcript_kept_goes_with_its_first_message() -> None:
    first = Message.user_text(f"goal {uuid.uuid4().hex}")
    encoded(request([first, *turn(0)], 0))
    kept = len(message_json._prefixes)
    del first
    gc.collect()
    assert len(message_json._prefixes) == kept - 1


def test_a_kept_transcript_makes_no_object_per_message() -> None:
    """The messages after the first are held in one list, not each behind a weak reference (an
    object the collector would track per message of every live transcript)."""
    first = Message.user_text(f"goal {uuid.uuid4().hex}")
    transcript = [first, *itertools.chain.from_iterable(turn(step) for step in range(20))]
    encoded(request(transcript, 20))
    encoded(request([*transcript, *turn(20)], 21))
    assert [weakref.getweakrefcount(message) for message in transcript[1:]] == [0] * (len(transcript) - 1)


class TwoTranscripts(BaseModel):
    note: str = '[{"role":"user"}]'
    left: list[Message] = Field(default_factory=list)
    right: list[Message] = Field(default_factory=list)


class SubMessage(Message):
    extra: str = "pydantic writes a Message field's value as a Message"


class HiddenTranscript(BaseModel):
    messages: list[Message] = Field(default_factory=list, exclude=True)
    kept: int = 1


@pytest.mark.parametrize(
    "value",
    [
        TwoTranscripts(left=turn(0), right=[*turn(1), *turn(2)]),
        TwoTranscripts(),
        LLMRequest(
            model="m", system="s", messages=[Message.user_text("a"), SubMessage(role="user", content=[])]
        ),
        HiddenTranscript(messages=turn(3)),
        {"messages": turn(4)},
        "a plain string",
    ],
    ids=["two transcripts", "empty", "a subclass message", "excluded field", "a dict", "a string"],
)
def test_other_shapes_are_written_as_pydantic_writes_them(value: Any) -> None:
    assert encoded(value) == to_json(value)
    assert encoded(value) == to_json(value)  # and again, from what was kept


async def test_an_agent_that_continues_as_new_sends_every_message_in_order(
    ts_client: Client, settings: Settings
) -> None:
    turns = 7
    model = ScriptedModel(
        [
            *(
                {
                    "match": {"step_kind": "agent", "turn": number},
                    "reply": {
                        "tool_calls": [{"name": "calculator", "input": {"expression": f"{number} * 3"}}]
                    },
                }
                for number in range(turns)
            ),
            {"match": {"step_kind": "agent", "turn": turns}, "reply": {"text": "done: ünïcode ✓"}},
        ]
    )
    params = AgentInput(goal="count in threes", tools=["calculator"], continue_as_new_after_iterations=3)
    result = await run_agent(ts_client, settings, model, params)

    assert result.outcome == "completed" and result.runs >= 3
    sent = [request.messages for request in model.requests]
    assert len(sent) == turns + 1
    for before, after in itertools.pairwise(sent):
        assert after[: len(before)] == before and len(after) == len(before) + 2
    observations = [
        block.content for message in sent[-1] for block in message.content if block.type == "tool_result"
    ]
    assert observations == [str(number * 3) for number in range(turns)]


def tool_call(arguments: dict[str, Any]) -> Message:
    return Message(role="assistant", content=[ToolUseBlock(id="toolu_1", name="lookup", input=arguments)])


@pytest.mark.parametrize(
    ("kept", "sent"),
    [
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # equal dicts, keys in another order
        ({"a": 1.0, "b": True}, {"a": 1, "b": 1}),  # 1.0 == True == 1, three different JSON numbers
    ],
    ids=["key order", "int float bool"],
)
def test_an_equal_message_that_is_not_the_same_one_is_written_again(
    kept: dict[str, Any], sent: dict[str, Any]
) -> None:
    """Two branches from one first message whose next messages are equal (==) but written differently:
    only the same message objects may take the kept JSON, not equal ones."""
    first = Message.user_text("goal")
    one, other = tool_call(kept), tool_call(sent)
    assert one == other
    assert encoded(request([first, one], 0)) == to_json(request([first, one], 0))
    assert encoded(request([first, other], 1)) == to_json(request([first, other], 1))


def test_an_equal_block_put_in_place_of_a_sent_one_is_written_again() -> None:
    first = Message.user_text("goal")
    message = tool_call({"n": 1})
    assert encoded(request([first, message], 0)) == to_json(request([first, message], 0))
    message.content[0] = ToolUseBlock(id="toolu_1", name="lookup", input={"n": 1.0})
    assert encoded(request([first, message], 1)) == to_json(request([first, message], 1))


class NanConstants(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")
    messages: list[Message]


class NanStrings(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")
    messages: list[Message]


class Base64Bytes(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64", ser_json_timedelta="float")
    messages: list[Message]


class CountingSerializer(BaseModel):
    messages: list[Message]
    count: int = 0

    @field_serializer("count")
    def _count(self, count: int) -> int:
        return len(self.messages)  # reads the transcript: it must see the real one


@pytest.mark.parametrize(
    "model", [NanConstants, NanStrings, Base64Bytes, CountingSerializer], ids=lambda model: model.__name__
)
def test_a_model_whose_config_or_serializers_reach_its_transcript_is_written_as_pydantic_writes_it(
    model: type[BaseModel],
) -> None:
    """The top-level model's `ser_json_*` settings apply to the values inside a message's tool input
    (pydantic infers them with the outer config), and another field's serializer sees `self`."""
    arguments = {"nan": math.nan, "inf": -math.inf, "wait": timedelta(seconds=3)}
    if model is Base64Bytes:
        arguments["raw"] = b"\xff\x00"
    value = model(messages=[Message.user_text("goal"), tool_call(arguments), Message.user_text("more")])
    assert encoded(value) == to_json(value)


class LastMessageOnly(BaseModel):
    messages: Annotated[list[Message], WrapSerializer(lambda messages, write: write(messages[-1:]))]


def test_a_transcript_field_with_an_annotated_serializer_is_written_as_pydantic_writes_it() -> None:
    value = LastMessageOnly(messages=[Message.user_text("first"), Message.user_text("last")])
    assert encoded(value) == to_json(value)
