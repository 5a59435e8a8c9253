"""What a reviewer is shown for an approval: a `ProposedAction` built from the exact arguments that
will run. Targets (`to`, `url`, a file path, ...) come first and are never shortened; every other
argument follows in full. Invisible characters (bidi overrides, zero-width marks, control codes) are
shown escaped, so a value cannot look like something else on screen.

Workflow code only: pure functions, no I/O.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from common.redact import masked_url
    from workflows.models import ActionField, ProposedAction

__all__ = ["TARGET_FIELDS", "compact_json", "masked_url", "proposed_action", "visible"]

# Argument names that say where an action goes. Matched case-insensitively, in this order.
TARGET_FIELDS = (
    "to",
    "cc",
    "bcc",
    "recipient",
    "recipients",
    "url",
    "deliver_to",
    "target",
    "destination",
    "path",
    "file",
    "filename",
)
_KEPT_CONTROLS = frozenset("\n\t")


def visible(text: str) -> str:
    """`text` with every control or format character (Unicode Cc/Cf, e.g. U+202E RIGHT-TO-LEFT
    OVERRIDE, U+200B ZERO WIDTH SPACE, CR) written as an escape; newlines and tabs stay."""
    return "".join(
        char
        if char in _KEPT_CONTROLS or unicodedata.category(char) not in ("Cc", "Cf")
        else f"\\u{ord(char):04x}"
        for char in text
    )


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return visible(value)
    return visible(json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2))


def proposed_action(
    kind: str,
    name: str,
    arguments: Mapping[str, Any],
    *,
    verb: str | None = None,
    shown: Mapping[str, str] | None = None,
) -> ProposedAction:
    """The reviewer's view of calling `name` with `arguments`. `shown` replaces how a value is
    displayed (e.g. a masked operator URL); the hash must still be taken over `arguments`."""
    shown = shown or {}
    rank = {field: index for index, field in enumerate(TARGET_FIELDS)}
    target_names = sorted((key for key in arguments if key.lower() in rank), key=lambda k: rank[k.lower()])
    other_names = sorted(key for key in arguments if key.lower() not in rank)
    fields = [
        ActionField(name=key, value=shown.get(key, _shown(arguments[key])), target=True)
        for key in target_names
    ] + [ActionField(name=key, value=shown.get(key, _shown(arguments[key]))) for key in other_names]
    targets = ", ".join(field.value for field in fields if field.target)
    title = f"{verb or name} to {targets}" if targets else (verb or name)
    # The title is one line; the fields below keep each value exactly.
    return ProposedAction(kind=kind, name=name, title=" ".join(title.split()), fields=fields)


def compact_json(arguments: Mapping[str, Any], limit: int = 300) -> str:
    """A one-line summary of a tool call for step details and sources (not for approvals, which
    show every argument): URL query values and credentials are masked, as they may hold a token."""
    shown = {
        key: masked_url(value) if isinstance(value, str) and "://" in value else value
        for key, value in arguments.items()
    }
    text = ", ".join(f"{key}={value!r}" for key, value in sorted(shown.items()))
    return text if len(text) <= limit else text[: limit - 3] + "..."
