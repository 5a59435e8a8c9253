"""What goes into and comes out of a tool activity (contract shared by workflows and activities)."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = [
    "SideEffectToolInput",
    "ToolObservation",
]


class ToolObservation(BaseModel):
    """A tool's result as the model will read it. `is_error` marks a failure the model should see
    (bad arguments, a refused host) rather than a crash of the workflow."""

    content: str
    is_error: bool = False


class SideEffectToolInput(BaseModel):
    """Input of a side-effect tool activity: the validated arguments plus the idempotency key made in
    the workflow (`{workflow_id}/{step}`), stable across retries, resets and continue-as-new."""

    arguments: dict[str, object]
    idempotency_key: str
