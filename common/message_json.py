"""The JSON of a model that holds a transcript (a `list[Message]` field), where the part of each
transcript already serialised is not serialised again.

An agent or a session sends its whole transcript in every model call, and pydantic serialises every
message and block again each time, about a microsecond apiece: at 2,600 messages, 10 ms of each
step's workflow task and most of it (docs/benchmarks.md, "Performance at parity"). A transcript only
grows, so the converter keeps the JSON of the last transcript that began with a given message (while
that message lives) and writes only the messages after it: byte for byte what `pydantic_core.to_json`
writes (tests/storage/test_message_json.py).

The kept beginning is used only when it holds the same message objects with the same blocks (their
identities, compared in C; not `==`, which holds for messages pydantic writes differently, as
`{"a": 1, "b": 2}` and `{"b": 2, "a": 1}` or 1 and 1.0): `Message` and its blocks are frozen, so
nothing else can change them.
"""

from __future__ import annotations

import itertools
import operator
import uuid
import weakref
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import to_json

from common.contracts.llm import Message, TextBlock

__all__ = ["transcript_fields", "transcript_json"]

# A message no transcript holds: where a transcript field's JSON goes in the model's own JSON.
_PLACEHOLDER = Message(role="user", content=[TextBlock(text=f"\x00transcript {uuid.uuid4().hex}")])
_PLACEHOLDER_JSON = b"[" + to_json(_PLACEHOLDER) + b"]"

# id(first message) -> what the last transcript that began with it was: its first message (weakly:
# the entry goes with it), the messages after it (held: one list slot each, not a weak reference
# per message, which the collector would track; docs/benchmarks.md, "Performance at parity",
# thirteenth pass), how many blocks each message held, those blocks (all in one list) and its JSON.
_Prefix = tuple["weakref.ref[Message]", list[Message], list[int], list[Any], bytes]
_prefixes: dict[int, _Prefix] = {}
# A model class's transcript fields (none: not joined); weak, as a workflow sandbox makes its own classes.
_fields_of: weakref.WeakKeyDictionary[type, tuple[str, ...]] = weakref.WeakKeyDictionary()
_content = operator.attrgetter("content")
# Model settings that change how pydantic writes the values inside a message (a tool input's floats,
# bytes, durations are written with the outermost model's settings).
_WRITING_SETTINGS = ("ser_json_", "json_encoders")


def transcript_json(value: Any) -> bytes | None:
    """`to_json(value)` for a model with transcript fields, the transcripts' known beginnings taken
    from what they were last time; None for any other value (serialise it as usual)."""
    if not isinstance(value, BaseModel):
        return None
    fields = _fields_of.get(type(value))
    if fields is None:
        fields = _fields_of[type(value)] = transcript_fields(type(value))
    if not fields:
        return None
    transcripts = [getattr(value, name) for name in fields]
    if not all(type(transcript) is list for transcript in transcripts):
        return None
    document = to_json(value.model_copy(update={name: [_PLACEHOLDER] for name in fields}))
    parts = document.split(_PLACEHOLDER_JSON)
    if len(parts) != len(fields) + 1:
        return None  # a field left out of the JSON (exclude): nothing to put back
    pieces = [parts[0]]
    for transcript, after in zip(transcripts, parts[1:], strict=True):
        joined = _transcript_json(transcript)
        if joined is None:
            return None
        pieces += (joined, after)
    return b"".join(pieces)


def _transcript_json(transcript: list[Any]) -> bytes | None:
    """The JSON array of `transcript`, or None when it holds anything but `Message`s (pydantic writes
    a subclass's message as a `Message`; leave that to it)."""
    if not transcript:
        return b"[]"
    if set(map(type, transcript)) != {Message}:
        return None
    first = transcript[0]
    contents = list(map(_content, transcript))
    counts = list(map(len, contents))
    key = id(first)
    entry = _prefixes.get(key)
    if entry is not None:
        first_ref, kept_rest, kept_counts, kept_blocks, data = entry
        known = len(kept_rest) + 1
        # Compared by identity, in C: the same messages holding the same blocks. The first message
        # is the live one the entry goes with; the kept messages and blocks are held, so no other
        # message or block can have their addresses.
        if (
            first_ref() is first
            and known <= len(transcript)
            and counts[:known] == kept_counts
            and all(map(operator.is_, itertools.islice(transcript, 1, known), kept_rest))
            and all(map(operator.is_, itertools.chain.from_iterable(contents[:known]), kept_blocks))
        ):
            if known == len(transcript):
                return data
            data = data[:-1] + b"," + b",".join(map(to_json, transcript[known:])) + b"]"
            blocks = kept_blocks + list(itertools.chain.from_iterable(contents[known:]))
            _prefixes[key] = (first_ref, transcript[1:], counts, blocks, data)
            return data
    data = b"[" + b",".join(map(to_json, transcript)) + b"]"
    if entry is None or entry[0]() is not first:
        weakref.finalize(first, _prefixes.pop, key, None)
    blocks = list(itertools.chain.from_iterable(contents))
    _prefixes[key] = (weakref.ref(first), transcript[1:], counts, blocks, data)
    return data


def transcript_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields typed exactly `list[Message]`, when nothing of the model's own changes how they
    are written (a serializer, annotated or not, a computed field, an exclusion, a `ser_json_*`
    setting). A field serializer on any field counts: it may read the transcript from `self`."""
    decorators = model.__pydantic_decorators__
    if decorators.model_serializers or decorators.computed_fields or decorators.field_serializers:
        return ()
    if any(setting.startswith(_WRITING_SETTINGS) for setting in model.model_config):
        return ()
    fields = tuple(
        name
        for name, info in model.model_fields.items()
        if get_origin(info.annotation) is list and get_args(info.annotation) == (Message,)
    )
    if any(
        info.metadata  # an annotated serializer (or anything else pydantic may apply to the value)
        or info.exclude
        or info.exclude_if is not None
        or info.alias not in (None, name)
        or info.serialization_alias not in (None, name)
        for name, info in model.model_fields.items()
        if name in fields
    ):
        return ()
    return fields
