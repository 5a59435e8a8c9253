"""A workflow whose module the sandbox refuses: importing it there reads the host's clock (outside a
sandbox the import is harmless), so building a replayer that validates it fails."""

from __future__ import annotations

import datetime

from temporalio import workflow

__all__ = ["LOADED_AT", "Unsandboxable"]

LOADED_AT = datetime.datetime.now()  # a RestrictedWorkflowAccessError when imported in the sandbox


@workflow.defn(name="ForkReplayUnsandboxable")
class Unsandboxable:
    @workflow.run
    async def run(self) -> None:
        return None
