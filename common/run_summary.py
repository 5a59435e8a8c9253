"""What a run is about, in one line, for any workflow: the starter's Web UI summary and memo, the
inbox's list and the `status` views use it, so a workflow of your own shows up like the shipped ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["HEADLINE_KEYS", "headline"]

# The fields a run's input usually names its subject with; any other first text field does too.
HEADLINE_KEYS = ("goal", "topic", "question", "title", "subject", "text")


def headline(arguments: object, limit: int | None = None) -> str | None:
    """The run's subject from its input (or the starter's memo, which holds the input under
    `input`): the first of `HEADLINE_KEYS` that is text, else the first text field; None if none."""
    if not isinstance(arguments, Mapping):
        return None
    nested = headline(arguments.get("input"), limit) if "input" in arguments else None
    if nested is not None:
        return nested
    text = _first_text(arguments)
    if text is None:
        return None
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _first_text(arguments: Mapping[str, Any]) -> str | None:
    for key in HEADLINE_KEYS:
        if isinstance(arguments.get(key), str) and arguments[key].strip():
            return str(arguments[key])
    for value in arguments.values():
        if isinstance(value, str) and value.strip():
            return value
    return None
