"""What needs a person: approval rules (`APPROVAL_RULES_FILE`, and a run's own `approval_rules`).

A rule is `{"tool": GLOB, "when": {ARG: CONDITION, ...}, "decision": "approve" | "require" | "deny",
"approvers": N}`; the first rule of a list whose glob and conditions all hold decides. The operator's
list and the run's list are each read that way and the stricter outcome wins (deny, then require with
the most approvers, then approve), so a run's input can add rules but never loosen the operator's. A
call no rule matches: "require" one approver when the tool has a side effect, else it just runs.

Pure functions: the workflow evaluates rules (deterministically, no I/O); the worker loads the file.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from common.contracts.runs import ApprovalRule, ArgumentCondition
from common.json_file import first_problem, read_json_file

__all__ = ["RuleError", "RuleOutcome", "decide", "load_rules", "parse_rules"]

_RULES = TypeAdapter(list[ApprovalRule])
_STRICTNESS = {"approve": 0, "require": 1, "deny": 2}


class RuleError(ValueError):
    """The rules file cannot be used; the message is one line naming the file and the rule."""


@dataclass(frozen=True)
class RuleOutcome:
    """How a call is decided: `decision`, the people it needs, and the rule that said so (None: no
    rule matched, the default)."""

    decision: str  # "approve", "require", "deny", or "run" (no approval needed: the default)
    approvers: int = 0
    rule: str | None = None  # its name, "#N" by its place in the file, "run ..." for the run's own

    def stricter(self, other: RuleOutcome) -> RuleOutcome:
        mine, theirs = _STRICTNESS.get(self.decision, -1), _STRICTNESS.get(other.decision, -1)
        if mine != theirs:
            return self if mine > theirs else other
        return self if self.approvers >= other.approvers else other


def parse_rules(raw: object, source: str = "rules") -> list[ApprovalRule]:
    """The rules in `raw` (a JSON list); raises `RuleError` naming the first bad rule."""
    if not isinstance(raw, list):
        raise RuleError(f"{source}: expected a JSON list of rules, got {type(raw).__name__}")
    try:
        rules = _RULES.validate_python(raw)
    except ValidationError as error:
        raise RuleError(f"{source}: rule {first_problem(error)}") from None
    for index, rule in enumerate(rules, start=1):
        for argument, condition in rule.when.items():
            if condition.matches is not None:
                try:
                    re.compile(condition.matches)
                except re.error as error:
                    raise RuleError(f"{source}: rule {index}: when.{argument}.matches: {error}") from None
    return rules


def load_rules(path: str | Path) -> list[ApprovalRule]:
    """The rules file; `RuleError` (one line naming the file and the rule, counted from 1)."""
    where = str(path)
    raw = read_json_file(path, where, RuleError)
    return parse_rules(raw, where)


def decide(
    operator: Sequence[ApprovalRule],
    run: Sequence[ApprovalRule],
    tool: str,
    arguments: Mapping[str, Any],
    *,
    side_effect: bool,
) -> RuleOutcome:
    """The outcome for calling `tool` with `arguments`: the stricter of the operator's and the run's
    first matching rules, or the default when neither matches."""
    default = RuleOutcome("require", 1) if side_effect else RuleOutcome("run")
    found = [
        outcome
        for outcome in (_first(operator, tool, arguments, ""), _first(run, tool, arguments, "run "))
        if outcome
    ]
    if not found:
        return default
    outcome = found[0] if len(found) == 1 else found[0].stricter(found[1])
    return outcome


def _first(
    rules: Sequence[ApprovalRule], tool: str, arguments: Mapping[str, Any], kind: str
) -> RuleOutcome | None:
    for index, rule in enumerate(rules, start=1):
        if fnmatch.fnmatchcase(tool, rule.tool) and all(
            argument in arguments and _holds(condition, arguments[argument])
            for argument, condition in rule.when.items()
        ):
            approvers = rule.approvers if rule.decision == "require" else 0
            # The rule's name, or its place ("#2"; "run #1": the run's own rules).
            return RuleOutcome(rule.decision, approvers, kind + (rule.name or f"#{index}"))
    return None


def _holds(condition: ArgumentCondition, value: Any) -> bool:
    checks: list[bool] = []
    if condition.equals is not None:  # (`equals: null` is no condition: the field travels as null)
        checks.append(value == condition.equals)
    if condition.startswith is not None:
        checks.append(isinstance(value, str) and value.startswith(condition.startswith))
    if condition.endswith is not None:
        checks.append(isinstance(value, str) and value.endswith(condition.endswith))
    if condition.matches is not None:
        checks.append(isinstance(value, str) and re.fullmatch(condition.matches, value) is not None)
    if condition.in_ is not None:
        checks.append(value in condition.in_)
    for bound, holds in (
        (condition.lt, lambda v, b: v < b),
        (condition.le, lambda v, b: v <= b),
        (condition.gt, lambda v, b: v > b),
        (condition.ge, lambda v, b: v >= b),
    ):
        if bound is not None:
            number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
            checks.append(number is not None and holds(number, bound))
    return all(checks)
