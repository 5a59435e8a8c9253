"""Re-exports a tool activity's input and observation: the definitions live in `common.contracts.tools` (the contracts both workflows and activities import)."""

from common.contracts.tools import (
    SideEffectToolInput,
    ToolObservation,
)

__all__ = [
    "SideEffectToolInput",
    "ToolObservation",
]
