"""What a run's `status` shows of its model calls waiting for the shared rate limit: `waiting_for`,
set by the `rate_limit_wait` Signal `llm.complete` sends on a long wait (common/contracts/waits.py)
and cleared when the wait ends or the step's result arrives, whichever comes first.

Workflow code only: deterministic, no I/O."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from common.contracts.runs import WorkflowStatus
    from common.contracts.waits import RateLimitWait

__all__ = ["RateLimitWaits"]


class RateLimitWaits:
    def __init__(self, status: WorkflowStatus) -> None:
        self._status = status
        self._waiting: dict[str, RateLimitWait] = {}  # by step, in the order the waits began
        # The model steps whose call is in flight: any client can send the Signal, so a wait is
        # shown only for one of them (a forged one never names a step the run is not running,
        # nor grows the status beyond the run's own calls).
        self._in_flight: set[str] = set()

    def step_started(self, step: str) -> None:
        """The step's model call is scheduled: a wait of it may be shown."""
        self._in_flight.add(step)

    def on_signal(self, wait: RateLimitWait) -> None:
        if wait.step not in self._in_flight:
            return
        if wait.until is None:
            self._waiting.pop(wait.step, None)
        else:
            self._waiting[wait.step] = wait
        self._show()

    def step_ended(self, step: str) -> None:
        """The step's result (or failure) arrived: whatever it waited for is over."""
        self._in_flight.discard(step)
        if self._waiting.pop(step, None) is not None:
            self._show()

    def _show(self) -> None:
        self._status.waiting_for = "; ".join(_describe(wait) for wait in self._waiting.values()) or None


def _describe(wait: RateLimitWait) -> str:
    until = f" until {wait.until:%H:%M:%S}Z" if wait.until is not None else ""
    paused = ", paused by the provider's 429" if wait.reason == "paused" else ""
    return f"rate limit {wait.limit}{until} (step {wait.step}{paused})"
