"""A workflow's payloads are decoded whole: a workflow activation decodes its input in the workflow
task's thread before the workflow's event loop runs (`workflow.in_workflow()` is False there), so
the converter must also see the sandbox to keep workflows off the kept transcripts."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from common import message_decode
from common.contracts.llm import LLMRequest, Message
from tests.storage.transcript_probe_workflow import TranscriptProbeWorkflow
from workflows.kit.pytest_plugin import KitWorkerFactory


async def test_a_workflow_input_with_a_transcript_is_not_kept(
    kit_env: WorkflowEnvironment,
    kit_worker: KitWorkerFactory,
    kit_task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(message_decode, "_SMALLEST", 0)  # this small input would be decoded whole anyway
    goal = f"goal {uuid.uuid4().hex}"
    request = LLMRequest(messages=[Message.user_text(goal), Message.user_text("and another")])
    async with kit_worker(workflows=[TranscriptProbeWorkflow]):
        count = await kit_env.client.execute_workflow(
            TranscriptProbeWorkflow.run, request, id=f"probe-{uuid.uuid4()}", task_queue=kit_task_queue
        )
    assert count == 2
    kept = [entry for entry in list(message_decode._kept.values()) if goal.encode() in entry.data]
    assert kept == []  # the workflow's decode went through message_decode when this fails
