"""What a provider knows about the activity attempt it runs in: the step label its requests carry, the
progress gate its stream events feed, how long a silent stream may last before the call gives up,
and the usage meter its stream's usage reports feed (kept in the attempt's heartbeat details, so
the next attempt counts what this one spent even if its worker dies)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import activity

from activities.llm.pricing import PriceTable
from common.contracts.llm import AttemptProgress, LLMRequest, SpentUsage, Usage

__all__ = [
    "STEP_HEADER",
    "STEP_KIND_HEADER",
    "CallContext",
    "StreamProgress",
    "StreamWindows",
    "UsageMeter",
    "current_progress",
    "heartbeat_details",
    "meter_usage",
    "report_usage",
    "watch_progress",
]

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
    # What every heartbeat of this attempt carries (its usage so far): Temporal keeps only the last
    # heartbeat's details, and a heartbeat without details would erase them.
    details: tuple[Any, ...] = ()

    def saw_event(self) -> None:
        self.last_event = time.monotonic()

    def restart(self) -> None:
        """The first-byte window starts again: a call that waited for its rate limit slot has not
        been waiting for the model (and the ticker heartbeats for it meanwhile)."""
        self.started = time.monotonic()

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


def heartbeat_details() -> tuple[Any, ...]:
    """The details the running attempt's heartbeats carry (none outside an `llm.complete` attempt)."""
    progress = _PROGRESS.get()
    return progress.details if progress is not None else ()


class UsageMeter:
    """The usage one `llm.complete` attempt has seen, and what the failed attempts before it spent
    (read from the previous attempt's last heartbeat details). Every change is heartbeated at once,
    so the usage Temporal holds is never older than the last usage report of the stream."""

    def __init__(self, prices: PriceTable, model: str, progress: StreamProgress | None) -> None:
        self._prices = prices
        self._model = model
        self._progress = progress
        attempt = activity.info().attempt if activity.in_activity() else 1
        earlier = _earlier_attempts(attempt)
        self.state = AttemptProgress(attempt=attempt, earlier=earlier)
        # The provider's stream began: it read the request, so the attempt is billed even when the
        # stream ends before its usage (an OpenAI-compatible stream reports usage in its last chunk).
        self.streamed = False
        self.reported = False  # the provider reported this attempt's usage (any of it)
        # A first attempt has nothing to carry yet: no heartbeat of its own (a short call sends none).
        self._publish(send=earlier != SpentUsage(attempts=earlier.attempts))

    @property
    def earlier(self) -> SpentUsage:
        return self.state.earlier

    def saw_usage(self, usage: Usage, model: str | None = None) -> None:
        """The usage the stream reported so far for this attempt (cumulative)."""
        self.reported = True
        self._model = model or self._model
        quote = self._prices.quote(self._model, usage)
        self.state = self.state.model_copy(
            update={"usage": usage, "cost_usd": quote.cost_usd, "priced": quote.priced}
        )
        self._publish()

    @property
    def cost_unknown(self) -> bool:
        """The stream began but reported no usage (cut before its last chunk): the provider billed
        the attempt, for how much is unknown."""
        return self.streamed and not self.reported

    def count_worst_case(self, cost_usd: float, priced: bool) -> None:
        """An attempt whose cost is unknown counts at the call's worst case (what a tenant's ledger
        settles it at), so that neither the run's totals nor its budget take it as free. Its tokens
        stay as reported: unknown."""
        self.state = self.state.model_copy(update={"cost_usd": cost_usd, "priced": priced})
        self._publish()

    def streaming(self, on_event: Callable[[], None]) -> Callable[[], None]:
        """`on_event` for the provider's stream events, noting that the stream began."""

        def saw_event() -> None:
            self.streamed = True
            on_event()

        return saw_event

    def heartbeat(self) -> None:
        """A heartbeat of a stream event when no liveness ticker runs: with the details."""
        if activity.in_activity():
            activity.heartbeat(*self._details())

    def _details(self) -> tuple[Any, ...]:
        return (self.state.model_dump(mode="json"),)

    def _publish(self, send: bool = True) -> None:
        details = self._details()
        if self._progress is not None:
            self._progress.details = details
        if send and activity.in_activity():
            activity.heartbeat(*details)


def _earlier_attempts(attempt: int) -> SpentUsage:
    """What the attempts before `attempt` spent, from the last heartbeat details Temporal kept. An
    attempt that failed before its first heartbeat left none: its usage is unknown (it was most
    likely refused before the model ran), but it still counts as an attempt."""
    known = SpentUsage()
    if attempt > 1 and activity.in_activity():
        for detail in activity.info().heartbeat_details:
            try:
                previous = AttemptProgress.model_validate(detail)
            except ValidationError:
                continue
            if previous.attempt < attempt:
                known = previous.spent()
    return known.model_copy(update={"attempts": attempt - 1})


_METER: ContextVar[UsageMeter | None] = ContextVar("llm_usage_meter", default=None)


def meter_usage(meter: UsageMeter) -> None:
    """Set by the activity for the attempt it runs; providers report through `report_usage`."""
    _METER.set(meter)


def report_usage(usage: Usage, model: str | None = None) -> None:
    """A provider saw the stream's usage so far (cumulative for this attempt)."""
    meter = _METER.get()
    if meter is not None:
        meter.saw_usage(usage, model)


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
