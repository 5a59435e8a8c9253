"""A workflow that makes one LLM call with LLM_CALL's options (optionally a shorter heartbeat timeout
or fewer attempts), so the activity is tested through a real worker and Temporal's own retries."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.llm.activity import LLMActivities
    from activities.llm.models import LLMRequest, LLMResponse
    from workflows.activity_options import LLM_CALL


class LLMCallInput(BaseModel):
    request: LLMRequest
    heartbeat_timeout_s: float | None = None
    maximum_attempts: int | None = None


@workflow.defn(name="LLMCallTestWorkflow")
class LLMCallWorkflow:
    @workflow.run
    async def run(self, params: LLMCallInput) -> LLMResponse:
        options = LLM_CALL
        if params.heartbeat_timeout_s is not None:
            options = dataclasses.replace(options, heartbeat=timedelta(seconds=params.heartbeat_timeout_s))
        if params.maximum_attempts is not None:
            retry = dataclasses.replace(options.retry, maximum_attempts=params.maximum_attempts)
            options = dataclasses.replace(options, retry=retry)
        return await workflow.execute_activity_method(
            LLMActivities.complete, params.request, **options.kwargs()
        )
