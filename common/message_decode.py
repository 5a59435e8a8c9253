"""A model holding a transcript (a `list[Message]` field) read from JSON, where the messages already
read from the same bytes before are not read again.

An agent's model call carries its whole transcript, and the activity's worker decodes all of it in
every step, on the worker's event loop: at 2,000 messages (490 KB) about 15 ms a step, where the
step's news is two messages (docs/benchmarks.md, "Performance at parity", fifth pass). The encode
side writes only what is new (common/message_json.py); this is the same for the decode.

The worker keeps, per transcript beginning, the bytes it last decoded, where each message ended in
them and the messages it made. When new bytes begin with the same bytes up to the end of some of
those messages, those messages are taken as they are (`Message` and its blocks are frozen) and only
the rest is validated. Where each message ends is known only when the array is exactly the messages'
own JSON joined by commas (checked against `to_json` of each message, as the product's converter
writes it); otherwise nothing is kept and every decode is a whole one. Decoding the same bytes gives
the same messages, so the result equals a whole decode (tests/storage/test_message_decode.py).

Finding the transcript's key in the bytes does not make it the array pydantic takes for the field
(the same key again later, written with a space or an escape, wins; the key may sit in a nested
object). So the messages' place is confirmed by pydantic itself: the bytes are validated with the
known messages replaced by one marker message, which must come back as the field's first message.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)
from pydantic_core import to_json

from common.contracts.llm import Message, TextBlock
from common.message_json import transcript_fields

__all__ = ["transcript_from_json"]

# The bytes of decoded transcripts kept, with their keys' beginnings (their messages too, about four
# times as much in objects).
_KEPT_BYTES = 16 * 1024 * 1024
# How much after the transcript's `[` names a transcript (its first message, typically all of it).
_KEY_SPAN = 512
# Stands in for the known messages: where it lands after validation is where they are. Its random
# text is in no input (it never leaves the process: a failed validation with it is not reported).
_MARKER = Message(role="user", content=[TextBlock(text=f"known messages {uuid.uuid4().hex}")])
_MARKER_JSON = to_json(_MARKER)


@dataclass(frozen=True)
class _Decoded:
    data: bytes
    start: int  # the offset just after the transcript's `[`
    ends: list[int]  # the offset just after each message
    messages: list[Any]


# Below this a whole decode costs less than finding what is known (measured, a request growing by
# two messages a step: 37 against 118 us at 7 KB; 154 against 85 us at 22 KB).
_SMALLEST = 16 * 1024

_kept: OrderedDict[tuple[type, bytes], _Decoded] = OrderedDict()
_kept_bytes = 0
_lock = threading.Lock()  # activities may decode on several threads (a sync activity's executor)
_field_of: weakref.WeakKeyDictionary[type, str | None] = weakref.WeakKeyDictionary()


def transcript_from_json(data: bytes, model: type[BaseModel]) -> BaseModel | None:
    """`model.model_validate_json(data)`, the transcript's known beginning taken from the last
    decode of the same beginning; None when `model` has no transcript this can keep (decode it as
    usual). Raises pydantic's ValidationError as a whole decode does."""
    if len(data) < _SMALLEST:
        return None
    name = _transcript_field(model)
    if name is None:
        return None
    key = f'"{name}":['.encode()
    if data.count(key) != 1:
        return None  # no transcript, or the name also inside another value: where it starts is unsure
    start = data.find(key) + len(key)
    memo_key = (model, data[: start + _KEY_SPAN])
    with _lock:
        known = _kept.get(memo_key)
        if known is not None:
            _kept.move_to_end(memo_key)
    reused = _reusable(known, data, start) if known is not None else 0
    value: BaseModel | None = None
    if known is not None and reused:
        value = _with_known_beginning(model, name, data, known, reused)
    if value is None:
        known, reused = None, 0
        value = model.model_validate_json(data)
    messages = getattr(value, name)
    ends = known.ends[:reused] if known is not None else []
    if (
        messages
        and _measure(data, messages, ends, start if not ends else ends[-1] + 1, skip=reused)
        # After a reuse the marker showed the array is the field's; after a whole decode, ask.
        and (reused or _marked(model, name, data, start, ends[-1]) == 1)
    ):
        _keep(memo_key, _Decoded(data, start, ends, list(messages)))
    return value


def _transcript_field(model: type[BaseModel]) -> str | None:
    """The model's one transcript field, when pydantic reads it without anything of the model's own
    between (a validator of any kind, a post-init, an alias): each would see only the new messages."""
    if model in _field_of:
        return _field_of[model]
    name: str | None = None
    fields = transcript_fields(model)
    decorators = model.__pydantic_decorators__
    validators = (
        decorators.model_validators,
        decorators.field_validators,
        decorators.validators,  # pydantic's V1-style `validator` and `root_validator`
        decorators.root_validators,
    )
    if (
        len(fields) == 1
        and not any(validators)
        # An annotated validator, on any field or inside one, may read the transcript (`info.data`).
        and not _has_function_validator(model.__pydantic_core_schema__, outermost=True)
        # A post-init or an `__init__` of its own would see only the new messages.
        and model.__pydantic_post_init__ is None
        and not model.__pydantic_custom_init__
    ):
        info = model.model_fields[fields[0]]
        if info.validation_alias in (None, fields[0]):
            name = fields[0]
    _field_of[model] = name
    return name


def _has_function_validator(schema: Any, *, outermost: bool) -> bool:
    """Whether the model's core schema holds a function validator outside the models nested in it
    (a nested model's validators see only that model's data)."""
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, str) and kind.startswith("function-"):
            return True
        if kind == "model":
            if not outermost:
                return False
            outermost = False
        return any(_has_function_validator(value, outermost=outermost) for value in schema.values())
    if isinstance(schema, list | tuple):
        return any(_has_function_validator(value, outermost=outermost) for value in schema)
    return False


def _reusable(known: _Decoded, data: bytes, start: int) -> int:
    """How many of `known`'s messages `data` holds byte for byte, at the same place."""
    if known.start != start or not known.ends:
        return 0
    if data.startswith(known.data[: known.ends[-1]]):
        return len(known.ends)
    low, high = 0, len(known.ends) - 1  # the last message differs: find the first that does
    while low < high:
        middle = (low + high + 1) // 2
        if data.startswith(known.data[: known.ends[middle - 1]]):
            low = middle
        else:
            high = middle - 1
    return low


def _with_known_beginning(
    model: type[BaseModel], name: str, data: bytes, known: _Decoded, reused: int
) -> BaseModel | None:
    """The model from `data`, its first `reused` messages taken from `known`, the rest validated;
    None when the rest does not validate or the messages are not where the field's are (a whole
    decode then gives pydantic's own value or error)."""
    tail = _validated_marked(model, data, known.start, known.ends[reused - 1])
    if tail is None:
        return None
    rest = getattr(tail, name)
    if not rest or rest[0] != _MARKER:
        return None
    return tail.model_copy(update={name: known.messages[:reused] + rest[1:]})


def _validated_marked(model: type[BaseModel], data: bytes, start: int, end: int) -> BaseModel | None:
    """`data` validated with its bytes from `start` to `end` replaced by the marker message; None
    when that does not validate. The bytes after `end` stay as they are (a comma and what follows
    it, or the array's end), so they are read as they would be after the known messages."""
    try:
        return model.model_validate_json(data[:start] + _MARKER_JSON + data[end:])
    except ValidationError:
        return None


def _marked(model: type[BaseModel], name: str, data: bytes, start: int, end: int) -> int:
    """How many messages the field holds when `data`'s bytes from `start` to `end` are replaced by
    the marker, if it is the first of them (else 0): 1 says they were all the field's messages."""
    marked = _validated_marked(model, data, start, end)
    messages = getattr(marked, name) if marked is not None else []
    return len(messages) if messages and messages[0] == _MARKER else 0


def _measure(data: bytes, messages: list[Any], ends: list[int], at: int, *, skip: int) -> bool:
    """Appends to `ends` where each message after the first `skip` ends in `data`, from offset `at`;
    False unless each is its own JSON there, followed by a comma or the array's end."""
    for message in messages[skip:]:
        written = to_json(message)
        end = at + len(written)
        if data[at:end] != written or data[end : end + 1] not in (b",", b"]"):
            return False
        ends.append(end)
        at = end + 1
    return True


def _size(memo_key: tuple[type, bytes], decoded: _Decoded) -> int:
    """The bytes an entry holds: its data and its key's beginning (a copy, as long as what comes
    before the transcript, a system prompt say, plus the span)."""
    return len(decoded.data) + len(memo_key[1])


def _keep(memo_key: tuple[type, bytes], decoded: _Decoded) -> None:
    global _kept_bytes
    with _lock:
        previous = _kept.pop(memo_key, None)
        if previous is not None:
            _kept_bytes -= _size(memo_key, previous)
        if _size(memo_key, decoded) > _KEPT_BYTES:
            return
        _kept[memo_key] = decoded
        _kept_bytes += _size(memo_key, decoded)
        while _kept_bytes > _KEPT_BYTES:
            dropped_key, dropped = _kept.popitem(last=False)
            _kept_bytes -= _size(dropped_key, dropped)
