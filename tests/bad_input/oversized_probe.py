"""A workflow whose one activity returns more than Temporal's payload limit, called with each of the
product's activity options: the run must learn of it once, not retry it."""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import activity_options

OVERSIZED_CHARS = 2_500_000  # Temporal's default payload limit is 2 MiB
CONTROL = "control: a policy that does not list PayloadsTooLarge"


class OversizedOutcome(BaseModel):
    error_type: str | None
    message: str


class OversizedResults:
    def __init__(self) -> None:
        self.calls = 0

    @activity.defn(name="probe.oversized_result")
    async def oversized_result(self) -> str:
        self.calls += 1
        return "x" * OVERSIZED_CHARS


@workflow.defn(name="OversizedResultProbe")
class OversizedResultProbe:
    @workflow.run
    async def run(self, options_name: str) -> OversizedOutcome:
        if options_name == CONTROL:
            options = dataclasses.replace(activity_options.TOOL_CALL, retry=RetryPolicy(maximum_attempts=2))
        else:
            options = getattr(activity_options, options_name)
        try:
            await workflow.execute_activity("probe.oversized_result", **options.kwargs())
        except ActivityError as error:
            cause = error.cause
            assert isinstance(cause, ApplicationError)
            return OversizedOutcome(error_type=cause.type, message=cause.message)
        return OversizedOutcome(error_type=None, message="the oversized result went through")
