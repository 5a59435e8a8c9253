"""The decode of a model call's transcript (common/message_decode.py): messages already read from
the same bytes are taken as they were, only the rest is validated, and the result is always what a
whole decode gives: for a transcript that grew, changed in the middle, shrank, was written by another
writer, or is invalid."""

from __future__ import annotations

import json
import uuid
import warnings
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, root_validator, validator
from pydantic_core import to_json
from temporalio.api.common.v1 import Payload
from temporalio.exceptions import ApplicationError

from common import message_decode
from common.contracts.llm import LLMRequest, Message, TextBlock, ToolResultBlock, ToolUseBlock
from common.converter import ValidatingPayloadConverter
from common.message_decode import transcript_from_json


@pytest.fixture(autouse=True)
def small_transcripts_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """These transcripts are small; a worker decodes those whole (below `_SMALLEST`)."""
    monkeypatch.setattr(message_decode, "_SMALLEST", 0)


def transcript(turns: int, goal: str | None = None) -> list[Message]:
    messages = [Message.user_text(goal or f"goal {uuid.uuid4().hex}")]
    for number in range(turns):
        call = ToolUseBlock(
            id=f"toolu_{number}", name="calculator", input={"expression": f"{number} * 3", "x": 1.5}
        )
        messages.append(Message(role="assistant", content=[TextBlock(text=f"step {number} ✓"), call]))
        messages.append(
            Message(role="user", content=[ToolResultBlock(tool_use_id=call.id, content=str(number))])
        )
    return messages


def request(messages: list[Message]) -> bytes:
    return to_json(LLMRequest(system="be brief", messages=messages, step="llm 1", max_tokens=64))


def decode(data: bytes) -> LLMRequest:
    """Through the converter an activity's worker decodes its input with."""
    payload = Payload(metadata={"encoding": b"json/plain"}, data=data)
    (value,) = ValidatingPayloadConverter().from_payloads([payload], [LLMRequest])
    assert isinstance(value, LLMRequest)
    assert value == LLMRequest.model_validate_json(data)  # what a whole decode gives
    return value


def test_a_grown_transcript_reads_only_its_new_messages() -> None:
    messages = transcript(20)
    first = decode(request(messages))
    grown = decode(request([*messages, *transcript(1, "the next turn")[1:]]))

    assert len(grown.messages) == len(first.messages) + 2
    assert all(a is b for a, b in zip(first.messages, grown.messages, strict=False))  # taken as they were
    assert grown.messages[-1] is not first.messages[-1]


def test_a_message_changed_in_the_middle_is_read_again_with_all_after_it() -> None:
    messages = transcript(10)
    first = decode(request(messages))
    changed = list(messages)
    changed[7] = Message(role="user", content=[ToolResultBlock(tool_use_id="toolu_3", content="changed")])
    second = decode(request(changed))

    assert all(a is b for a, b in zip(first.messages[:7], second.messages[:7], strict=True))
    assert all(a is not b for a, b in zip(first.messages[7:], second.messages[7:], strict=True))
    assert second.messages[7].content[0] == ToolResultBlock(tool_use_id="toolu_3", content="changed")


def test_a_shorter_transcript_and_other_fields_are_read_from_the_new_bytes() -> None:
    messages = transcript(8)
    decode(request(messages))
    shorter = decode(request(messages[:5]))
    assert len(shorter.messages) == 5

    other = LLMRequest(system="be brief", messages=messages, step="llm 2", max_tokens=99, tools=[])
    assert decode(to_json(other)).max_tokens == 99


def test_json_of_another_writer_is_decoded_whole_every_time() -> None:
    messages = transcript(6)
    spaced = json.dumps(json.loads(request(messages)), indent=1).encode()  # spaces, newlines
    first = decode(spaced)
    again = decode(spaced)
    assert all(a is not b for a, b in zip(first.messages, again.messages, strict=True))

    reordered = json.loads(request(messages))
    reordered["content_first"] = None
    for message in reordered["messages"]:
        message["content"], message["role"] = message.pop("content"), message.pop("role")  # keys swapped
    data = json.dumps(reordered, separators=(",", ":"), ensure_ascii=False).encode()
    one, two = decode(data), decode(data)
    assert all(a is not b for a, b in zip(one.messages, two.messages, strict=True))


def test_a_second_transcript_key_is_read_as_pydantic_reads_it() -> None:
    messages = transcript(4)
    decode(request(messages))
    data = request(messages)
    twice = data[:-1] + b',"messages":' + to_json(messages[:1]) + b"}"  # the last key wins
    assert len(decode(twice).messages) == 1


def test_an_invalid_new_message_fails_as_a_whole_decode_does() -> None:
    messages = transcript(5)
    decode(request(messages))
    data = request(messages)
    broken = data.replace(b"]}]", b']},{"role":"robot","content":[]}]', 1)
    assert broken != data
    with pytest.raises(ValidationError) as whole:
        LLMRequest.model_validate_json(broken)
    with pytest.raises(ValidationError) as kept:
        transcript_from_json(broken, LLMRequest)
    assert kept.value.errors() == whole.value.errors()  # the same paths: messages.11.role

    with pytest.raises(ApplicationError, match=r"messages\.11\.role") as refused:
        decode(broken)
    assert refused.value.type == "InvalidInput"


def test_what_is_kept_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_decode, "_KEPT_BYTES", 64 * 1024)
    for _ in range(40):
        decode(request(transcript(30)))
    assert message_decode._kept_bytes <= 64 * 1024
    held = sum(len(entry.data) + len(beginning) for (_, beginning), entry in message_decode._kept.items())
    assert message_decode._kept_bytes == held


def test_a_model_without_one_plain_transcript_is_left_to_pydantic() -> None:
    assert transcript_from_json(b'{"text":"hi"}', TextBlock) is None


# Hostile bytes: the array the kept offsets point into must be the one pydantic takes for the field.
LONG = Message.user_text("x" * 600)  # longer than the span that names a transcript beginning


def kept_then(first: bytes, then: bytes, model: type[LLMRequest] = LLMRequest) -> None:
    """Decodes `first` (as an activity's worker would, to keep its messages), then checks that `then`
    decodes as a whole decode does, value or error."""
    try:
        transcript_from_json(first, model)
    except ValidationError:
        pass
    try:
        whole = model.model_validate_json(then)
    except ValidationError as error:
        try:
            left = transcript_from_json(then, model)
        except ValidationError as kept:
            assert kept.errors() == error.errors()
        else:
            assert left is None  # left to pydantic, which raises
        return
    assert transcript_from_json(then, model) in (whole, None)


@pytest.mark.parametrize("later_key", [b'"messages" :', b'"messages": ', b'"messag\\u0065s":'])
def test_a_later_transcript_key_pydantic_takes_is_not_mistaken_for_the_kept_array(later_key: bytes) -> None:
    first = b'{"messages":[' + to_json(LONG) + b"]}"
    then = first[:-1] + b"," + later_key + b"[" + to_json(Message.user_text("the real one")) + b"]}"
    kept_then(first, then)  # whole: one message; the kept array taken as the field's beginning: two


def test_a_trailing_comma_after_the_kept_messages_is_refused_as_a_whole_decode_refuses_it() -> None:
    first = b'{"messages":[' + to_json(LONG) + b"]}"
    kept_then(first, b'{"messages":[' + to_json(LONG) + b",]}")


def test_messages_kept_from_an_array_pydantic_did_not_take_are_not_reused() -> None:
    # The first document's literal key holds JSON of the messages pydantic read from the later key
    # (NaN is written as null), so what was kept is not what those bytes decode to.
    nan = b'{"role":"user","content":[{"type":"tool_use","id":"a","name":"b","input":{"x":NaN}}]}'
    null = nan.replace(b"NaN", b"null")
    first = (
        b'{"messages":['
        + null
        + b","
        + to_json(LONG)
        + b'],"messages" :['
        + nan
        + b","
        + to_json(LONG)
        + b"]}"
    )
    then = b'{"messages":[' + null + b"," + to_json(LONG) + b"]}"
    kept_then(first, then)  # whole: input {"x": None}


def test_a_model_with_its_own_post_init_sees_the_whole_transcript() -> None:
    class Counted(LLMRequest):
        def model_post_init(self, context: object) -> None:
            object.__setattr__(self, "system", f"{len(self.messages)} messages")

    messages = transcript(3)
    kept_then(request(messages), request([*messages, Message.user_text("one more")]), Counted)


def test_the_bound_counts_the_kept_beginnings_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # A long system prompt comes before the transcript: each kept entry's key holds it again.
    monkeypatch.setattr(message_decode, "_KEPT_BYTES", 64 * 1024)
    monkeypatch.setattr(message_decode, "_kept", message_decode._kept.__class__())
    monkeypatch.setattr(message_decode, "_kept_bytes", 0)
    for _ in range(12):
        messages = transcript(2)
        decode(to_json(LLMRequest(system="s" * 20_000, messages=messages)))
    held = sum(len(entry.data) + len(beginning) for (_, beginning), entry in message_decode._kept.items())
    assert held <= 64 * 1024
    assert message_decode._kept_bytes == held


def test_a_model_whose_validators_see_the_transcript_is_decoded_whole() -> None:
    def at_most_three(messages: list[Message]) -> list[Message]:
        if len(messages) > 3:
            raise ValueError("at most three messages")
        return messages

    def counted(step: str, info: ValidationInfo) -> str:
        return f"{step}: {len(info.data['messages'])} messages"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)

        class OldStyle(LLMRequest):  # pydantic's V1-style `validator`
            @validator("messages")
            def short(cls, messages: list[Message]) -> list[Message]:
                return at_most_three(messages)

        class OldStyleRoot(LLMRequest):
            @root_validator(skip_on_failure=True)
            def short(cls, values: dict[str, Any]) -> dict[str, Any]:
                at_most_three(values["messages"])
                return values

    class Annotated_(LLMRequest):
        step: Annotated[str, AfterValidator(counted)] = ""

    class Inside(LLMRequest):
        tags: list[Annotated[str, AfterValidator(counted)]] = Field(default_factory=list)

    messages = transcript(1, "g" * 600)  # the transcript's beginning: the same in both
    first, then = request(messages), request([*messages, *transcript(1, "more")])
    for model in (OldStyle, OldStyleRoot, Annotated_):
        kept_then(first, then, model)
    kept_then(first[:-1] + b',"tags":["a"]}', then[:-1] + b',"tags":["a"]}', Inside)


def test_a_model_with_its_own_init_sees_the_whole_transcript() -> None:
    class Counted(LLMRequest):
        def __init__(self, **data: Any) -> None:
            super().__init__(**{**data, "step": f"{len(data['messages'])} messages"})

    messages = transcript(1, "g" * 600)
    kept_then(request(messages), request([*messages, *transcript(1, "more")]), Counted)


def test_a_small_request_is_decoded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_decode, "_SMALLEST", 16 * 1024)
    messages = transcript(3)
    assert len(request(messages)) < 16 * 1024
    first, again = decode(request(messages)), decode(request(messages))
    assert all(a is not b for a, b in zip(first.messages, again.messages, strict=True))
