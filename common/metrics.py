"""The product's OpenTelemetry metrics: one place that names every instrument.

Token usage and LLM latency follow the GenAI semantic conventions (`gen_ai.client.token.usage`,
`gen_ai.client.operation.duration`); cost, tool errors and waiting approvals are the product's own
(`ai_workflows.*`). Instruments come from the global MeterProvider that `common.telemetry` installs
(OTLP when an endpoint is configured; a no-op otherwise). Recording happens in activities and in the
worker, never in workflow code, so a replay never counts anything twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.util.types import AttributeValue
from temporalio.client import Client

__all__ = [
    "APPROVALS_WAITING_QUERY",
    "METER_NAME",
    "AiMetrics",
    "current",
    "install",
    "watch_approvals_waiting",
]

log = logging.getLogger(__name__)

METER_NAME = "ai_workflows"

# Running workflows whose approval gate waits for a decision: the workflows upsert `AiPhase`.
APPROVALS_WAITING_QUERY = "AiPhase = 'awaiting_approval' AND ExecutionStatus = 'Running'"

# Seconds; the GenAI conventions' advised buckets for operation duration.
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
# Tokens; the GenAI conventions' advised buckets for token usage.
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)


class AiMetrics:
    """The instruments, made once from a meter."""

    def __init__(self, meter: Meter):
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens used per LLM call, by gen_ai.token.type (input includes cached input)",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.operation_duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of one LLM call as seen by the worker",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.cost = meter.create_counter(
            "ai_workflows.llm.cost", unit="USD", description="Cost of LLM calls from the price table"
        )
        self.tool_calls = meter.create_counter(
            "ai_workflows.tool.calls", unit="{call}", description="Tool executions, errors included"
        )
        self.tool_errors = meter.create_counter(
            "ai_workflows.tool.errors",
            unit="{call}",
            description="Tool executions that failed or returned an error observation, by error.type",
        )
        self._approvals_waiting: int | None = None
        meter.create_observable_gauge(
            "ai_workflows.approvals.waiting",
            callbacks=[self._observe_approvals_waiting],
            unit="{workflow}",
            description="Running workflows waiting for an approval decision (from visibility)",
        )

    def set_approvals_waiting(self, count: int) -> None:
        self._approvals_waiting = count

    def _observe_approvals_waiting(self, options: CallbackOptions) -> Iterable[Observation]:
        # Only a process that watches visibility (the worker) reports; others report nothing
        # rather than a misleading zero.
        if self._approvals_waiting is None:
            return []
        return [Observation(self._approvals_waiting)]

    def record_llm_call(
        self,
        attributes: Mapping[str, AttributeValue],
        *,
        duration_s: float,
        input_tokens: int | None,
        output_tokens: int | None,
        cost_usd: float | None,
    ) -> None:
        """One LLM call; token counts and cost are None when the call failed."""
        self.operation_duration.record(duration_s, attributes)
        if input_tokens is not None:
            self.token_usage.record(input_tokens, {**attributes, "gen_ai.token.type": "input"})
        if output_tokens is not None:
            self.token_usage.record(output_tokens, {**attributes, "gen_ai.token.type": "output"})
        if cost_usd:
            self.cost.add(cost_usd, attributes)

    def record_tool_call(self, tool_name: str, error_type: str | None) -> None:
        attributes: dict[str, AttributeValue] = {"gen_ai.tool.name": tool_name}
        if error_type is not None:
            attributes["error.type"] = error_type
            self.tool_errors.add(1, attributes)
        self.tool_calls.add(1, attributes)


_current: AiMetrics | None = None


def current() -> AiMetrics:
    """The process's instruments (from the global meter provider, made on first use)."""
    global _current
    if _current is None:
        _current = AiMetrics(metrics.get_meter(METER_NAME))
    return _current


def install(instruments: AiMetrics | None) -> AiMetrics | None:
    """Swap the process's instruments (tests read them with an in-memory reader); returns the old."""
    global _current
    previous, _current = _current, instruments
    return previous


async def watch_approvals_waiting(
    client: Client, instruments: AiMetrics, *, interval_s: float = 30.0, stop: asyncio.Event
) -> None:
    """Refresh `ai_workflows.approvals.waiting` from visibility until `stop` is set.

    Counting in visibility (not +1/-1 in the process that saw the request) stays right across
    worker restarts and with several workers: every worker reports the same fleet-wide number.
    """
    while not stop.is_set():
        try:
            count = await client.count_workflows(APPROVALS_WAITING_QUERY)
            instruments.set_approvals_waiting(count.count)
        except Exception as error:  # visibility hiccups must never take the worker down
            log.warning("could not count workflows waiting for approval: %s", error)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            pass
