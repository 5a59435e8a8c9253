"""What a provider knows about the activity attempt it runs in: the step label its requests carry and
how long a silent stream may last before the call gives up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity

from activities.llm.models import LLMRequest

STEP_HEADER = "x-ai-workflows-step"
STEP_KIND_HEADER = "x-ai-workflows-step-kind"


@dataclass(frozen=True)
class CallContext:
    workflow_id: str
    heartbeat_timeout: timedelta | None

    @classmethod
    def current(cls) -> CallContext:
        """The running activity's context; neutral values when called outside an activity (a script)."""
        if not activity.in_activity():
            return cls(workflow_id="", heartbeat_timeout=None)
        info = activity.info()
        return cls(workflow_id=info.workflow_id or "", heartbeat_timeout=info.heartbeat_timeout)

    def headers(self, request: LLMRequest) -> dict[str, str]:
        """Labels every request with its step: harmless to a real API, and they let a proxy or a
        local test server count requests per step and answer in kind."""
        return {
            STEP_HEADER: _header_value(f"{self.workflow_id}/{request.step}"),
            STEP_KIND_HEADER: _header_value(request.step_kind),
        }

    def read_timeout(self, default: float) -> float:
        """How long to wait for the next bytes of a response: three heartbeat timeouts. Temporal
        notices a stall first (heartbeats are throttled to 0.8 of the timeout, so the server fires
        within 1.8 timeouts of the last event); then the worker gives up too and frees the slot,
        instead of holding it for `default`."""
        if self.heartbeat_timeout is None or self.heartbeat_timeout <= timedelta(0):
            return default
        return min(default, 3 * self.heartbeat_timeout.total_seconds())


def _header_value(text: str) -> str:
    """Printable ASCII only (HTTP clients reject other header bytes), and short: a label must never
    be the reason a call fails."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:256]
