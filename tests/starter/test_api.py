"""The importable starter functions: what they put on a run (summary, details, memo without secrets)
and the one-line `StarterError`s they raise."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client

from common.settings import Settings
from starter import api
from worker.app import build_worker
from workflows.models import AgentInput, ResearchInput


def test_redact_target_drops_credentials_query_and_fragment() -> None:
    assert (
        api.redact_target("https://user:pw@hooks.example.com:8443/in/abc?token=s3cret#x")
        == "https://hooks.example.com:8443/in/abc"
    )
    assert api.redact_target("mailto:ops@example.com") == "mailto:ops@example.com"
    assert api.redact_target("file:reports") == "file:reports"
    assert api.redact_target(None) is None


def test_input_summary_shortens_text_and_redacts_target() -> None:
    params = ResearchInput(topic="t" * 300, deliver_to="https://h.example/hook?key=k", approvers=["ana"])
    summary = api.input_summary(params)
    assert summary["topic"] == "t" * 200 + "..."
    assert summary["deliver_to"] == "https://h.example/hook"
    assert summary["approvers"] == ["ana"] and "budget_usd" not in summary  # None values are left out
    assert "key=k" not in str(api.input_summary(AgentInput(goal="g")) | summary)


def test_build_input_errors_name_the_option() -> None:
    with pytest.raises(
        api.StarterError, match="invalid max-subtopics: Input should be less than or equal to 500"
    ):
        api.build_input(ResearchInput, topic="x", max_subtopics=501)
    with pytest.raises(api.StarterError, match="invalid topic: String should have at least 1 character"):
        api.build_input(ResearchInput, topic="")
    with pytest.raises(
        api.StarterError, match="--no-such-option: not an input of this version's ResearchInput"
    ):
        api.build_input(ResearchInput, topic="x", no_such_option=1)
    params = api.build_input(ResearchInput, topic="x", max_subtopics=None, approvers=["a", "b"])
    assert params.max_subtopics == ResearchInput.model_fields["max_subtopics"].default
    assert params.approvers == ["a", "b"]


async def test_start_research_sets_summary_details_and_memo(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    params = ResearchInput(topic="coral reefs", max_subtopics=1, deliver_to="https://x.example/hook?sig=abc")
    handle = await api.start_research(ts_client, params, task_queue=task_queue)
    description = await handle.describe()
    await handle.terminate("no worker in this test")
    assert description.workflow_type == "ResearchWorkflow"
    assert await description.static_summary() == "Research: coral reefs"
    details = await description.static_details()
    assert details is not None and "coral reefs" in details and "sig=abc" not in details
    memo = await description.memo()
    assert memo["input"]["topic"] == "coral reefs" and memo["input"]["deliver_to"] == "https://x.example/hook"
    assert memo["started_by"] == "starter"


async def test_start_agent_by_type_name(ts_client: Client, task_queue: str) -> None:
    handle = await api.start_agent(
        ts_client, AgentInput(goal="add numbers", tools=["calculator"]), task_queue=task_queue
    )
    description = await handle.describe()
    await handle.terminate("no worker in this test")
    assert description.workflow_type == "AgentWorkflow"
    assert await description.static_summary() == "Agent: add numbers"
    assert (await description.memo())["input"]["tools"] == ["calculator"]


async def test_same_id_twice_is_one_line(ts_client: Client, task_queue: str) -> None:
    workflow_id = f"dup-{uuid.uuid4().hex[:8]}"
    handle = await api.start_research(
        ts_client, ResearchInput(topic="a"), task_queue=task_queue, workflow_id=workflow_id
    )
    try:
        with pytest.raises(api.StarterError, match=f"'{workflow_id}' is already running"):
            await api.start_research(
                ts_client, ResearchInput(topic="a"), task_queue=task_queue, workflow_id=workflow_id
            )
    finally:
        await handle.terminate("test done")


async def test_unknown_workflow_id_is_one_line(ts_client: Client) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    for call in (
        api.get_status(ts_client, missing),
        api.approve(ts_client, missing, "ana"),
        api.reject(ts_client, missing, "ana", via_signal=True),
        api.get_result(ts_client, missing),
    ):
        with pytest.raises(api.StarterError, match=f"no workflow with id '{missing}'") as caught:
            await call
        assert "\n" not in str(caught.value)


async def test_get_status_and_result_of_a_research_run(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    async with build_worker(ts_client, settings):
        handle = await api.start_research(
            ts_client, ResearchInput(topic="dunes", max_subtopics=2), task_queue=task_queue
        )
        result = await api.get_result(ts_client, handle.id)
        status = await api.get_status(ts_client, handle.id)
    assert result.topic == "dunes"
    assert status.phase == "completed"
    assert [s.step for s in status.completed_steps] == [s.step for s in result.steps]
    assert status.cost_usd == pytest.approx(result.cost_usd)
