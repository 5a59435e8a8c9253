"""One eval case scored: the candidate run against the original, check by check (`EvalChecks`,
workflows/kit/evals.py). Each difference is one line a person reads in the report."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

from common.contracts.evals import RecordedRun, RecordedToolCall
from starter.api import known_workflows
from workflows.kit.evals import EvalChecks

__all__ = ["Difference", "checks_of", "differences"]


class Difference(BaseModel):
    check: str  # "outcome", "tool_calls", "grounded", "field:NAME"
    detail: str  # what differed, in one line


def checks_of(workflow_type: str) -> EvalChecks:
    """The checks a workflow class this process knows declares (`eval_checks`), else the defaults."""
    for cls in known_workflows():
        definition = workflow._Definition.from_class(cls)
        if definition is not None and definition.name == workflow_type:
            declared = getattr(cls, "eval_checks", None)
            return declared if isinstance(declared, EvalChecks) else EvalChecks()
    return EvalChecks()


def differences(original: RecordedRun, candidate: RecordedRun, checks: EvalChecks) -> list[Difference]:
    """Empty when the candidate passes."""
    found: list[Difference] = []
    if original.outcome != candidate.outcome:
        found.append(Difference(check="outcome", detail=f"{original.outcome} -> {candidate.outcome}"))
    tool_calls = _tool_call_difference(original.tool_calls(), candidate.tool_calls(), checks)
    if tool_calls:
        found.append(Difference(check="tool_calls", detail=tool_calls))
    grounded = _grounded_difference(original.result, candidate.result)
    if grounded:
        found.append(Difference(check="grounded", detail=grounded))
    for name in checks.same_fields:
        was, now = _field(original.result, name), _field(candidate.result, name)
        if was != now:
            found.append(Difference(check=f"field:{name}", detail=f"{_shown(was)} -> {_shown(now)}"))
    return found


def _tool_call_difference(
    original: list[RecordedToolCall], candidate: list[RecordedToolCall], checks: EvalChecks
) -> str:
    for position, (was, now) in enumerate(zip(original, candidate, strict=False), start=1):
        if was.name != now.name:
            return f"call {position}: {was.name} -> {now.name}"
        before = checks.arguments_that_matter(was.name, was.arguments)
        after = checks.arguments_that_matter(now.name, now.arguments)
        if before != after:
            changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            shown = ", ".join(f"{k}: {_shown(before.get(k))} -> {_shown(after.get(k))}" for k in changed)
            return f"call {position} {was.name}: {shown}"
    if len(original) != len(candidate):
        return f"{len(original)} calls -> {len(candidate)} ({_names(original)} -> {_names(candidate)})"
    return ""


def _grounded_difference(original: Any, candidate: Any) -> str:
    """A grounded answer stays grounded, every citation naming a passage the run retrieved."""
    if not isinstance(original, dict) or "citations" not in original or original.get("outcome") != "grounded":
        return ""
    if not isinstance(candidate, dict):
        return "no result"
    if candidate.get("outcome") != "grounded":
        reasons = "; ".join(str(r) for r in candidate.get("reasons") or [])
        return f"outcome {candidate.get('outcome')}" + (f": {reasons}" if reasons else "")
    retrieved = set(candidate.get("passages") or [])
    for number, citation in enumerate(candidate.get("citations") or [], start=1):
        if not isinstance(citation, dict):
            return f"citation {number} is not an object"
        if citation.get("passage_id") not in retrieved:
            return f"citation {number} names passage {citation.get('passage_id')!r}, which was not retrieved"
        if not str(citation.get("quote") or "").strip():
            return f"citation {number} quotes nothing"
    return ""


def _field(result: Any, name: str) -> Any:
    return result.get(name) if isinstance(result, dict) else None


def _names(calls: list[RecordedToolCall]) -> str:
    return "[" + ", ".join(call.name for call in calls) + "]"


def _shown(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
