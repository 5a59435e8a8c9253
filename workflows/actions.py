"""What a reviewer is shown for an approval: a `ProposedAction` built from the exact arguments that
will run. Targets (the arguments the tool declares as where the action goes: `to`, `url`, an account)
come first and are never shortened; every other argument follows in full. Targets come from the
tool's declaration, never from argument names a model chose. Invisible characters (bidi overrides,
zero-width marks, control codes, newlines in names) are shown escaped in names and values alike, so
neither can look like something else on screen.

Workflow code only: pure functions, no I/O.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from common.redact import masked_url
    from workflows.models import ActionField, ProposedAction

__all__ = ["compact_json", "masked_url", "proposed_action", "visible"]

_KEPT_CONTROLS = frozenset("\n\t")


def visible(text: str, keep: frozenset[str] = _KEPT_CONTROLS) -> str:
    """`text` with every control or format character (Unicode Cc/Cf, e.g. U+202E RIGHT-TO-LEFT
    OVERRIDE, U+200B ZERO WIDTH SPACE, CR) written as an escape; those in `keep` (newlines and tabs
    of a value) stay."""
    return "".join(
        char if char in keep or unicodedata.category(char) not in ("Cc", "Cf") else f"\\u{ord(char):04x}"
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
    targets: Sequence[str] = (),
    verb: str | None = None,
    shown: Mapping[str, str] | None = None,
) -> ProposedAction:
    """The reviewer's view of calling `name` with `arguments`. `targets`: the argument names the tool
    declares as where the action goes, in order. `shown` replaces how a value is displayed (e.g. a
    masked operator URL); the hash must still be taken over `arguments`."""
    shown = shown or {}
    target_names = [key for key in dict.fromkeys(targets) if key in arguments]
    other_names = sorted(key for key in arguments if key not in target_names)

    def field(key: str, target: bool) -> ActionField:
        # A name is model-chosen text too: a newline in it must not start a line of its own.
        return ActionField(
            name=visible(key, keep=frozenset()), value=shown.get(key, _shown(arguments[key])), target=target
        )

    fields = [field(key, True) for key in target_names] + [field(key, False) for key in other_names]
    targets_text = ", ".join(f.value for f in fields if f.target)
    title = f"{verb or name} to {targets_text}" if targets_text else (verb or name)
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
