"""A pydantic model whose "fields set" is one shared frozen set until someone reads it.

Why: pydantic gives every instance its own `__pydantic_fields_set__`, a set that is almost always
the same few names. A transcript's messages and blocks and a run's step records are kept for the
whole run, so those sets were about a quarter of the objects an agent step keeps, and what a
worker keeps decides how often Python's collector runs its longer passes (docs/benchmarks.md,
"Performance at parity", thirteenth pass). Here an instance holds the one frozen set of its names;
the first read (`model_fields_set`, `model_copy`, an `exclude_unset` dump, pickling, an assignment)
swaps in a set of its own, so callers see pydantic's behaviour unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["LeanModel"]

# BaseModel's slot for the set: pydantic and pydantic-core write it with `object.__setattr__`, which
# goes through the descriptor below on a LeanModel.
_SLOT: Any = BaseModel.__dict__["__pydantic_fields_set__"]
_SHARED_MAX = 4096  # distinct name sets kept (a model that takes extra fields could make many)
_shared: dict[frozenset[str], frozenset[str]] = {}


class _FieldsSetOnRead:
    def __get__(self, instance: BaseModel | None, owner: type) -> Any:
        if instance is None:
            return self
        value = _SLOT.__get__(instance, owner)
        if type(value) is frozenset:
            value = set(value)
            _SLOT.__set__(instance, value)
        return value

    def __set__(self, instance: BaseModel, value: Any) -> None:
        if type(value) is set:
            names = frozenset(value)
            kept = _shared.get(names)
            if kept is None and len(_shared) < _SHARED_MAX:
                kept = _shared.setdefault(names, names)
            if kept is not None:
                value = kept
        _SLOT.__set__(instance, value)


class LeanModel(BaseModel):
    """A BaseModel for the values a run keeps by the thousand (messages, blocks, step records)."""


# Set after the class is made: pydantic's metaclass takes no say over a dunder set afterwards.
LeanModel.__pydantic_fields_set__ = _FieldsSetOnRead()  # type: ignore[assignment]
