"""Error cases run in batches: each case is its own workflow with its own step name (the fake server
answers each step with its scripted outcome), all on one worker at once."""

from __future__ import annotations

from temporalio.client import Client

from common.settings import Settings
from tests.fakes.scripted_server import Fail, Outcome, ScriptedServer
from tests.llm.call_workflow import LLMCallInput
from tests.llm.harness import application_failure, run_calls, simple_request

Case = tuple[Outcome, str]  # scripted outcome, expected error type


async def assert_fail_on_first_attempt(
    client: Client, settings: Settings, server: ScriptedServer, cases: list[Case]
) -> None:
    """With LLM_CALL's own retry policy (8 attempts), the classification alone stops the retries."""
    calls = []
    for index, (outcome, _) in enumerate(cases):
        server.script(outcome, step=f"case {index}")
        calls.append(LLMCallInput(request=simple_request(step=f"case {index}")))

    results = await run_calls(client, settings, calls)

    for index, ((outcome, expected), result) in enumerate(zip(cases, results, strict=True)):
        error = application_failure(result)
        assert (error.type, error.non_retryable) == (expected, True), outcome
        if isinstance(outcome, Fail):
            assert error.details[0]["status"] == outcome.status, outcome
        assert result.attempts == 1, outcome
        assert len(server.requests_for(f"{result.workflow_id}/case {index}")) == 1, outcome


async def assert_retried_by_temporal(
    client: Client, settings: Settings, server: ScriptedServer, cases: list[Case]
) -> None:
    # One attempt allowed: that attempt's failure is the classified, retryable error.
    single = []
    for index, (outcome, _) in enumerate(cases):
        server.script(outcome, step=f"single {index}")
        single.append(LLMCallInput(request=simple_request(step=f"single {index}"), maximum_attempts=1))
    # LLM_CALL's policy: the same failure, then a successful second attempt.
    retried = []
    for index, (outcome, _) in enumerate(cases):
        server.script(outcome, step=f"retried {index}")
        retried.append(LLMCallInput(request=simple_request(step=f"retried {index}")))

    results = await run_calls(client, settings, single + retried)

    for index, ((outcome, expected), failed, recovered) in enumerate(
        zip(cases, results[: len(cases)], results[len(cases) :], strict=True)
    ):
        error = application_failure(failed)
        assert (error.type, error.non_retryable) == (expected, False), outcome
        assert len(server.requests_for(f"{failed.workflow_id}/single {index}")) == 1, outcome
        assert recovered.response is not None and recovered.response.text(), outcome
        assert recovered.attempts == 2, outcome
        # One HTTP request per attempt: the client itself never retries.
        assert len(server.requests_for(f"{recovered.workflow_id}/retried {index}")) == 2, outcome
    assert server.pending == 0
