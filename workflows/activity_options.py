"""Every activity call's timeouts and retry policy, named, in one place (docs/design.md, principle 3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from activities.llm.error_types import NON_RETRYABLE_ERROR_TYPES

__all__ = [
    "DELIVERY",
    "LIVENESS_HEARTBEAT",
    "LLM_CALL",
    "MCP_DISCOVERY",
    "NOTIFY",
    "RUN_STATE",
    "TOOL_CALL",
    "ActivityOptions",
    "mcp_call_options",
]

# The SDK fails an activity whose result is over the server's payload limit (2 MB by default) with
# this type. Retrying would compute the same oversized result again (and pay for it again): never.
PAYLOADS_TOO_LARGE = "PayloadsTooLarge"


@dataclass(frozen=True)
class ActivityOptions:
    start_to_close: timedelta
    # None: bounded by the retry policy's attempts alone (each within start_to_close), so a call
    # waits out a time with no worker instead of timing out (and the server keeps one timer fewer).
    schedule_to_close: timedelta | None
    heartbeat: timedelta | None
    retry: RetryPolicy

    def __post_init__(self) -> None:
        if self.schedule_to_close is None and self.retry.maximum_attempts < 1:
            raise ValueError("options without schedule_to_close need a retry policy with maximum_attempts")

    def kwargs(self) -> dict[str, Any]:
        return {
            "start_to_close_timeout": self.start_to_close,
            "schedule_to_close_timeout": self.schedule_to_close,
            "heartbeat_timeout": self.heartbeat,
            "retry_policy": self.retry,
        }


# Every activity has a heartbeat timeout, and the worker heartbeats for each running activity
# (worker/liveness.py), so a missed heartbeat means "the worker is gone" (or, for an LLM call, "the
# stream stalled"), not "the work is slow". It is not what makes crash recovery fast: a worker that dies
# releases its lease, and a peer on its machine fails its attempts for retry within a fraction of a
# second (worker/inflight.py, worker/reaper.py). So the timeout only has to catch what no peer sees (a
# lost machine, a partition) and can be far longer than the worst stall of a live, saturated worker:
# 10 s, against at most ~2 s measured (docs/operations.md, "Crash recovery"). With 1 s, a saturated
# worker's activities timed out while it was alive and ran twice. Changing it does not affect replay
# (timeouts are not part of the command sequence).
LIVENESS_HEARTBEAT = timedelta(seconds=10)

# LLM calls: the liveness ticker heartbeats for them only while the stream progresses (first event
# within LLM_FIRST_BYTE_TIMEOUT_S, then no gap over LLM_STALL_TIMEOUT_S), so this one timeout notices
# both a gone worker and a stalled stream. Provider errors arrive classified
# (activities/llm/errors.py): the non-retryable types are listed here too, belt and braces, and a
# server's retry-after becomes the error's next_retry_delay, which overrides the backoff below. The
# first retry comes quickly: after a crash or a stall there is nothing to wait for (the server waits
# at least 1 s before any activity retry, whatever the policy says; measured on the dev server).
# Bounded by its 8 attempts, not a schedule-to-close timeout: a model call waiting for a worker (a
# deploy, an outage) is taken up when one returns, rather than failing the step after 30 minutes.
LLM_CALL = ActivityOptions(
    start_to_close=timedelta(minutes=5),
    schedule_to_close=None,
    heartbeat=LIVENESS_HEARTBEAT,
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=300),
        backoff_coefficient=4.0,
        maximum_interval=timedelta(seconds=60),
        maximum_attempts=8,
        non_retryable_error_types=sorted(NON_RETRYABLE_ERROR_TYPES | {PAYLOADS_TOO_LARGE}),
    ),
)


def liveness_options(
    start_to_close: timedelta,
    schedule_to_close: timedelta | None,
    *,
    initial_interval: timedelta = timedelta(milliseconds=500),
    maximum_interval: timedelta = timedelta(seconds=10),
    maximum_attempts: int = 0,
) -> ActivityOptions:
    """Options with the liveness heartbeat, retried with backoff (`maximum_attempts` 0: until
    `schedule_to_close`; `schedule_to_close` None: `maximum_attempts` times, however long a call waits
    for a worker); an oversized result is never retried."""
    return ActivityOptions(
        start_to_close=start_to_close,
        schedule_to_close=schedule_to_close,
        heartbeat=LIVENESS_HEARTBEAT,
        retry=RetryPolicy(
            initial_interval=initial_interval,
            maximum_interval=maximum_interval,
            maximum_attempts=maximum_attempts,
            non_retryable_error_types=[PAYLOADS_TOO_LARGE],
        ),
    )


# Read-only tools: short, cheap to retry; bounded by their attempts, as LLM_CALL.
TOOL_CALL = liveness_options(timedelta(seconds=30), None, maximum_attempts=5)

# Side effects: retried for longer (a receiver may be down for a while); idempotency keys make the
# retries safe.
DELIVERY = liveness_options(
    timedelta(seconds=60), timedelta(hours=1), maximum_interval=timedelta(minutes=2), maximum_attempts=20
)

# Notifications (approval escalation): best effort, bounded.
NOTIFY = liveness_options(
    timedelta(seconds=30),
    timedelta(minutes=10),
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=100),
    maximum_attempts=5,
)

# Seals on carried state (activities/run_state.py): a local HMAC; retried only past a worker's death.
RUN_STATE = liveness_options(timedelta(seconds=10), timedelta(minutes=5))

# MCP discovery: connecting may start a stdio server; a server that is down is retried for a while.
MCP_DISCOVERY = liveness_options(timedelta(minutes=2), timedelta(minutes=5))


def mcp_call_options(call_timeout_s: float) -> ActivityOptions:
    """An MCP call may take its server's `callTimeoutSeconds` (plus a connect); a server that is
    down is retried (`McpServerUnavailable`) for up to 10 minutes. Retrying an at-most-once call
    never sends it twice (the ledger)."""
    return liveness_options(
        timedelta(seconds=call_timeout_s + 60), timedelta(seconds=max(600.0, 3 * call_timeout_s))
    )
