"""The example's own tool inside an agent loop, driven by the shipped script
examples/scripts/ticket_triage_lookup.json (what `LLM_PROVIDER=scripted` runs on a worker), here
through `workflows.kit.testing.ScriptedModel` on the time-skipping server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from ticket_triage.extension import EXTENSION

from common.settings import Settings
from worker.plugin import AiWorkflowsPlugin
from workflows.kit.testing import ScriptedModel

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "scripts" / "ticket_triage_lookup.json"


async def test_the_shipped_script_looks_the_customer_up_then_answers(
    ts_client: Client, settings: Settings
) -> None:
    model = ScriptedModel(json.loads(SCRIPT.read_text()))
    # The model instead of the product's activities; the extension adds its tools (lookup_customer).
    plugin = AiWorkflowsPlugin(settings, extensions=[EXTENSION], activities=[model.activity])
    async with Worker(ts_client, task_queue=settings.temporal_task_queue, plugins=[plugin]):
        result: dict[str, Any] = await ts_client.execute_workflow(
            "AgentWorkflow",
            {"goal": "Who is ana@example.com?", "tools": ["lookup_customer"]},
            id=f"scripted-triage-{uuid.uuid4().hex[:10]}",
            task_queue=settings.temporal_task_queue,
            result_type=dict,
        )
    assert result["outcome"] == "completed" and result["iterations"] == 2
    assert result["answer"].startswith("ana@example.com is Ana Lima")
    # The tool really ran: its record of Ana is what the second request carried back to the model.
    [observation] = model.requests[1].messages[-1].content
    assert '"name": "Ana Lima"' in getattr(observation, "content", "")
