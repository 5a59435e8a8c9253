"""The script of the scripted model (`LLM_PROVIDER=scripted`, `workflows.kit.testing.ScriptedModel`):
a JSON list of rules, the first that matches a request answers it.

    [{"name": "look it up", "match": {"step_kind": "agent", "turn": 0},
      "reply": {"tool_calls": [{"name": "lookup_customer", "input": {"email": "ana@example.com"}}]}},
     {"match": {"contains": "Ana Lima"}, "reply": {"text": "Ana is on the pro plan."}}]

Only the shape lives here (settings validation reads it too, and `common` imports nothing of
`activities`); matching and answering are activities/llm/providers/scripted.py's. Every problem of a
script is one line naming the rule (numbered from 1) and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.contracts.usage import Usage

__all__ = [
    "ScriptError",
    "ScriptErrorKind",
    "ScriptMatch",
    "ScriptReply",
    "ScriptRule",
    "ScriptToolCall",
    "ScriptUsage",
    "load_script",
    "parse_script",
]

ScriptErrorKind = Literal["rate_limited", "overloaded", "invalid_request"]
_REPLY_KINDS = ("text", "tool_calls", "error")


class ScriptError(ValueError):
    """A script that cannot be used; the message is one line naming the rule and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScriptMatch(_Strict):
    """Every condition given must hold; none given matches every request."""

    step_kind: str | None = Field(default=None, min_length=1)  # `LLMRequest.step_kind`
    turn: int | None = Field(default=None, ge=0)  # assistant messages already in the request
    contains: str | None = Field(default=None, min_length=1)  # in the last user message or tool result
    attempt: int | None = Field(default=None, ge=1)  # the activity attempt: 1, then 2 on the first retry


class ScriptToolCall(_Strict):
    name: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)


class ScriptUsage(_Strict):
    """The tokens a reply reports, in the product's `Usage` field names."""

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)

    def to_usage(self) -> Usage:
        return Usage(**self.model_dump())


class ScriptReply(_Strict):
    """Exactly one of `text`, `tool_calls`, `error`; `usage` (default: estimated from the request and
    the reply, as the offline model does) and `delay_s` (a wait before answering) with any of them."""

    text: str | None = None
    tool_calls: list[ScriptToolCall] | None = Field(default=None, min_length=1)
    error: ScriptErrorKind | None = None
    usage: ScriptUsage | None = None
    delay_s: float = Field(default=0.0, ge=0.0, le=3600.0)

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> ScriptReply:
        given = [kind for kind in _REPLY_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of text, tool_calls, error (found {found})")
        return self


class ScriptRule(_Strict):
    name: str | None = None
    match: ScriptMatch = Field(default_factory=ScriptMatch)
    reply: ScriptReply


def parse_script(raw: object, source: str = "script") -> list[ScriptRule]:
    """The rules of a decoded script (a list of dicts or `ScriptRule`s), or `ScriptError`."""
    if not isinstance(raw, list | tuple):
        raise ScriptError(f"{source}: expected a JSON list of rules, got {type(raw).__name__}")
    rules: list[ScriptRule] = []
    for number, item in enumerate(raw, start=1):
        if isinstance(item, ScriptRule):
            rules.append(item)
            continue
        try:
            rules.append(ScriptRule.model_validate(item))
        except ValidationError as error:
            raise ScriptError(f"{source}: {_rule_label(number, item)}: {_first_problem(error)}") from None
    return rules


def load_script(path: Path) -> list[ScriptRule]:
    """The rules of a script file, or `ScriptError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ScriptError(f"{path}: cannot read: {reason}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ScriptError(
            f"{path}: not JSON: {error.msg} (line {error.lineno} column {error.colno})"
        ) from None
    return parse_script(raw, str(path))


def _rule_label(number: int, item: object) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"rule {number} {name!r}" if isinstance(name, str) and name else f"rule {number}"


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return " ".join(f"{where}: {message}".split()) if where else " ".join(message.split())
