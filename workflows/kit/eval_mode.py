"""Eval mode (`KitInput.eval_mode`, set by `starter eval`): a run that replays a recorded run with a
candidate model or prompt must not touch the world. In it, a side-effect tool (one that needs approval
or an idempotency key: a `side_effect=True` `@tool`, an MCP tool that is not read-only) and every
delivery never run: each returns a simulated observation and is recorded as a step whose detail starts
with `SIMULATED`; no approval is asked for them. Tools that only read run for real. A fork in eval
mode whose source performed a side effect before the fork point fails at that step (one line): the
fork would take another path there.

Workflow code only: nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from common.contracts.runs import KitInput, StepRecord
    from common.contracts.tools import ToolObservation
    from workflows.actions import masked_url
    from workflows.kit.tools import WorkflowTool

__all__ = [
    "SIMULATED",
    "WOULD_SIMULATE",
    "for_child",
    "has_side_effect",
    "is_simulated",
    "simulated_delivery",
    "simulated_tool_call",
]

# The mark of a simulated observation and of its step's detail (the eval's scoring reads it).
SIMULATED = "[eval: side effect not performed]"
# Why an eval-mode fork refuses a side effect its source performed before the fork point.
WOULD_SIMULATE = "would only simulate it (eval mode)"
# The arguments shown in a simulated observation: enough for the model to go on, never a whole report.
_SHOWN_ARGUMENTS_CHARS = 1000


def has_side_effect(tool: WorkflowTool) -> bool:
    """Whether a call of `tool` may change something outside the run (eval mode simulates it)."""
    return tool.needs_approval or tool.needs_key


def for_child(parent: KitInput, arg: object) -> object:
    """A child's input (`ctx.child`): a child of a run in eval mode is in eval mode too, or a child
    agent of an eval would perform the side effects its parent only simulates."""
    if parent.eval_mode and isinstance(arg, KitInput) and not arg.eval_mode:
        return arg.model_copy(update={"eval_mode": True})
    return arg


def simulated_tool_call(name: str, arguments: Mapping[str, Any]) -> ToolObservation:
    """What the model reads instead of the side effect's result: the call it asked for, marked; not
    an error, so the run goes on as it would have after the call."""
    shown = json.dumps(dict(arguments), sort_keys=True, ensure_ascii=False, default=str)
    if len(shown) > _SHOWN_ARGUMENTS_CHARS:
        shown = shown[:_SHOWN_ARGUMENTS_CHARS] + "..."
    return ToolObservation(content=f"{SIMULATED} would call {name}({shown})")


def is_simulated(observation: ToolObservation) -> bool:
    return not observation.is_error and observation.content.startswith(SIMULATED)


def simulated_delivery(channel: str, deliver_to: str) -> StepRecord:
    """The step a delivery records in eval mode instead of delivering (the target masked, as a
    reviewer sees it)."""
    return StepRecord(
        step="deliver",
        kind="delivery",
        detail=f"{SIMULATED} would deliver by {channel} to {masked_url(deliver_to)}",
    )
