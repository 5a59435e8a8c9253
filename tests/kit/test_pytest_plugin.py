"""The testing kit's pytest plugin (workflows/kit/pytest_plugin.py), loaded here as in any package's
tests: through its `pytest11` entry point. Its settings read nothing from the shell; its helpers say
what the run was doing when the approval they wait for never comes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from common.settings import Settings
from workflows.kit.pytest_plugin import KitWorkerFactory, decide, isolated_settings, wait_for_approval
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput, AgentResult


def test_the_plugin_is_loaded_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("ai_workflows")
    assert plugin is not None and plugin.__name__ == "workflows.kit.pytest_plugin"


def test_isolated_settings_read_nothing_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "LLM_PROVIDER": "anthropic",
        "ANTHROPIC_API_KEY": "sk-from-the-shell",
        "TEMPORAL_TASK_QUEUE": "the-shells-queue",
        "PAYLOAD_KEYS": "not a key ring",
        "WORKER_PLUGINS": "nowhere:NOTHING",
        "DEDUPE_LEDGER_PATH": "/var/shared/ledger.sqlite3",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LLM_PROVIDER=openai\nOPENAI_BASE_URL=http://elsewhere/v1\n")

    settings = isolated_settings(tmp_path / "state", temporal_task_queue="mine")

    assert (settings.provider, settings.anthropic_api_key, settings.payload_keys) == ("offline", None, None)
    assert (settings.temporal_task_queue, settings.worker_plugins) == ("mine", "")
    state_files = {
        name: getattr(settings, name)
        for name in (
            "dedupe_ledger_path",
            "payload_store_dir",
            "delivery_file_root",
            "run_state_key_file",
            "index_path",
            "worker_lease_dir",
        )
    }
    outside = {
        name: path for name, path in state_files.items() if not path.is_relative_to(tmp_path / "state")
    }
    assert not outside
    assert settings.index_root_paths == (tmp_path / "state",)


def test_kit_settings_is_on_the_tests_own_queue(kit_settings: Settings, kit_task_queue: str) -> None:
    assert kit_settings.temporal_task_queue == kit_task_queue and kit_settings.provider == "offline"


async def test_a_run_that_ends_without_asking_is_named(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    async with kit_worker() as worker:  # the product's workflows, the offline model
        handle = await kit_env.client.start_workflow(
            "AgentWorkflow",
            AgentInput(goal="What is 17 * 23?", tools=["calculator"]),
            id=f"kit-agent-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
            result_type=AgentResult,
        )
        await handle.result()
        with pytest.raises(AssertionError) as ended:
            await wait_for_approval(handle, timeout_s=10)
    message = str(ended.value)
    assert f"run {handle.id} ended (completed) without asking for approval" in message
    assert "tool 1.1 calculator" in message  # the steps it took


async def test_a_run_nobody_serves_times_out_naming_the_status_query(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    handle = await kit_env.client.start_workflow(
        "AgentWorkflow",
        AgentInput(goal="What is 17 * 23?"),
        id=f"kit-agent-{uuid.uuid4().hex[:8]}",
        task_queue=f"nobody-{uuid.uuid4().hex[:8]}",
    )
    with pytest.raises(TimeoutError, match=r"asked for no approval within 0.5 s; status query failed"):
        await wait_for_approval(handle, timeout_s=0.5)


async def test_a_scripted_agent_is_approved_through_decide(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    model = ScriptedModel(
        [
            {
                "match": {"step_kind": "agent", "turn": 0},
                "reply": {
                    "tool_calls": [
                        {
                            "name": "send_webhook",
                            "input": {"url": "https://example.com/h", "payload": {"n": 1}},
                        }
                    ]
                },
            },
            {"match": {"contains": "rejected"}, "reply": {"text": "Not sent: the reviewer said no."}},
        ]
    )
    async with kit_worker(model=model) as worker:
        handle = await kit_env.client.start_workflow(
            "AgentWorkflow",
            AgentInput(goal="Tell the hook.", tools=["send_webhook"], approvers=["ana"]),
            id=f"kit-agent-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
            result_type=AgentResult,
        )
        pending = await wait_for_approval(handle)
        record = await decide(handle, "ana", approved=False, comment="not today")
        result = await handle.result()
    assert pending.proposed is not None and pending.proposed.name == "send_webhook"
    assert (record.approver, record.approved, record.action_hash) == ("ana", False, pending.action_hash)
    assert result.answer == "Not sent: the reviewer said no." and result.decisions == [record]
    assert [request.step_kind for request in model.requests] == ["agent", "agent"]


@activity.defn(name="not.the.model")
async def _not_a_model(request: object) -> None:
    return None


class _WrongModel:
    activity = staticmethod(_not_a_model)


async def test_a_model_that_is_not_llm_complete_is_refused(kit_worker: KitWorkerFactory) -> None:
    with pytest.raises(TypeError, match=r"must be the 'llm\.complete' activity"):
        async with kit_worker(model=_WrongModel()):
            pass
