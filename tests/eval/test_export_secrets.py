"""`starter eval export` writes cases a team keeps (often in git): a webhook target's token must not
be in them, as it is in no memo, Web UI summary or approval the product shows (the query values and
credentials are masked), while the case still replays (in eval mode nothing is delivered)."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from starter.eval.export import export_cases
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel, eval_cases
from workflows.models import ResearchInput
from workflows.research import ResearchWorkflow

TOKEN = "s3cr3t-hook-token"
TARGET = f"https://hooks.example.com/services/T1?token={TOKEN}"


async def test_an_exported_case_does_not_carry_the_delivery_targets_secrets(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory, kit_task_queue: str, tmp_path: Path
) -> None:
    model = ScriptedModel([{"match": {"step_kind": "plan"}, "reply": {"text": "1. reefs"}}])
    params = ResearchInput(topic="ocean forests", max_subtopics=1, deliver_to=TARGET, eval_mode=True)
    async with kit_worker(model=model):
        handle = await kit_env.client.start_workflow(
            ResearchWorkflow.run,
            params,
            id=f"export-secret-{uuid.uuid4().hex[:8]}",
            task_queue=kit_task_queue,
        )
        await handle.result()
        out = tmp_path / "cases.jsonl"
        assert await export_cases(kit_env.client, out, query=None, ids=[handle.id]) == 1
        assert TOKEN not in out.read_text()
        [case] = eval_cases(out)
        assert case.input["deliver_to"] == "https://hooks.example.com/services/T1?token=%2A%2A%2A"
    async with kit_worker(model=ScriptedModel.from_case(case)) as worker:
        replayed = await kit_env.client.execute_workflow(
            case.workflow_type,
            case.replay_input(),
            id=f"replay-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
    assert replayed["report"] == case.result["report"] and replayed["outcome"] == case.outcome
