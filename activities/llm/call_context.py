"""What a provider knows about the activity attempt it runs in: the step label its requests carry, the
progress gate its stream events feed, and how long a silent stream may last before the call gives up."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity

from activities.llm.models import LLMRequest

STEP_HEADER = "x-ai-workflows-step"
STEP_KIND_HEADER = "x-ai-workflows-step-kind"


@dataclass(frozen=True)
class StreamWindows:
    """How long a model call may go without output and still count as progressing: before its first
    stream event (a long prompt's time to first token) and between two events (a stall)."""

    first_byte_s: float
    stall_s: float


@dataclass
class StreamProgress:
    """The progress gate of one `llm.complete` attempt. The provider reports every stream event
    (`saw_event`); the worker's liveness ticker (worker/liveness.py) heartbeats only while
    `is_progressing`, so a stalled stream stops the heartbeats and Temporal's (short) heartbeat
    timeout fires, while a dead worker is noticed just as fast as for any other activity."""

    windows: StreamWindows
    started: float = field(default_factory=time.monotonic)
    last_event: float | None = None

    def saw_event(self) -> None:
        self.last_event = time.monotonic()

    def is_progressing(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if self.last_event is None:
            return now - self.started < self.windows.first_byte_s
        return now - self.last_event < self.windows.stall_s


# Set by the liveness ticker around an `llm.complete` attempt; read by the activity (same task).
_PROGRESS: ContextVar[StreamProgress | None] = ContextVar("llm_stream_progress", default=None)


def watch_progress(windows: StreamWindows) -> StreamProgress:
    """A fresh gate for the activity attempt running in this context."""
    progress = StreamProgress(windows)
    _PROGRESS.set(progress)
    return progress


def current_progress() -> StreamProgress | None:
    """The gate of the running attempt; None when no liveness ticker watches it (a bare worker, a
    script): the provider's events then heartbeat directly."""
    return _PROGRESS.get()


@dataclass(frozen=True)
class CallContext:
    workflow_id: str
    heartbeat_timeout: timedelta | None
    windows: StreamWindows | None = None

    @classmethod
    def current(cls) -> CallContext:
        """The running activity's context; neutral values when called outside an activity (a script)."""
        if not activity.in_activity():
            return cls(workflow_id="", heartbeat_timeout=None)
        info = activity.info()
        progress = current_progress()
        return cls(
            workflow_id=info.workflow_id or "",
            heartbeat_timeout=info.heartbeat_timeout,
            windows=progress.windows if progress is not None else None,
        )

    def headers(self, request: LLMRequest) -> dict[str, str]:
        """Labels every request with its step: harmless to a real API, and they let a proxy or a
        local test server count requests per step and answer in kind."""
        return {
            STEP_HEADER: _header_value(f"{self.workflow_id}/{request.step}"),
            STEP_KIND_HEADER: _header_value(request.step_kind),
        }

    def read_timeout(self, default: float) -> float:
        """How long to wait for the next bytes of a response: the backstop behind the heartbeat
        timeout. Temporal notices a stall first (the gate closes after the longer stream window and
        the heartbeat timeout fires within about 1.8 timeouts of the last heartbeat); three heartbeat
        timeouts later the worker gives up too and frees the slot, instead of holding it for `default`.
        Without a gate the provider's events are the heartbeats, and the backstop is three heartbeat
        timeouts."""
        if self.heartbeat_timeout is None or self.heartbeat_timeout <= timedelta(0):
            return default
        backstop = 3 * self.heartbeat_timeout.total_seconds()
        if self.windows is not None:
            backstop += max(self.windows.first_byte_s, self.windows.stall_s)
        return min(default, backstop)


def _header_value(text: str) -> str:
    """Printable ASCII only (HTTP clients reject other header bytes), and short: a label must never
    be the reason a call fails."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:256]
