"""The example's own tool inside an agent loop, driven by the shipped script
examples/scripts/ticket_triage_lookup.json (what `LLM_PROVIDER=scripted` runs on a worker), here
through `workflows.kit.testing.ScriptedModel` on the time-skipping server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment
from ticket_triage.extension import EXTENSION

from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "scripts" / "ticket_triage_lookup.json"


async def test_the_shipped_script_looks_the_customer_up_then_answers(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    model = ScriptedModel(json.loads(SCRIPT.read_text()))
    # The product's workflows and activities with this model; the extension adds its tools.
    async with kit_worker(extensions=[EXTENSION], model=model) as worker:
        result: dict[str, Any] = await kit_env.client.execute_workflow(
            "AgentWorkflow",
            {"goal": "Who is ana@example.com?", "tools": ["lookup_customer"]},
            id=f"scripted-triage-{uuid.uuid4().hex[:10]}",
            task_queue=worker.task_queue,
            result_type=dict,
        )
    assert result["outcome"] == "completed" and result["iterations"] == 2
    assert result["answer"].startswith("ana@example.com is Ana Lima")
    # The tool really ran: its record of Ana is what the second request carried back to the model.
    [observation] = model.requests[1].messages[-1].content
    assert '"name": "Ana Lima"' in getattr(observation, "content", "")
