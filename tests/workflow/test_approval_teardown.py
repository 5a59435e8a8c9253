"""A run terminated while it waits for approval: the gate's cleanup runs only where the run goes on
(decision, cancellation, failure), never while the worker tears the run down. Before the fix the
evicted run's coroutine, closed outside the workflow's event loop, called the workflow API from its
`finally` and Python reported "Not in workflow event loop"."""

from __future__ import annotations

import gc
import sys
import uuid
from typing import Any

import pytest
from temporalio.client import Client

from common.settings import Settings
from tests.workflow.doubles import offline_llm
from tests.workflow.support import pending_approval, worker_with
from workflows.models import ResearchInput
from workflows.research import ResearchWorkflow


async def test_terminating_a_run_waiting_for_approval_reports_no_error(
    ts_client: Client,
    settings: Settings,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    unraisable: list[str] = []

    def record(hook_args: Any) -> None:  # where Python reports errors raised while closing coroutines
        unraisable.append(f"{hook_args.exc_type.__name__}: {hook_args.exc_value}")

    monkeypatch.setattr(sys, "unraisablehook", record)
    params = ResearchInput(topic="tide pools", max_subtopics=1, approvers=["alice"])
    async with worker_with(ts_client, settings, [offline_llm().complete]):
        handle = await ts_client.start_workflow(
            ResearchWorkflow.run, params, id=f"research-{uuid.uuid4().hex}", task_queue=task_queue
        )
        status = await pending_approval(handle)
        assert status.pending_approval is not None
        await handle.terminate("test")
    gc.collect()  # the evicted run's coroutine is closed when it is collected
    assert unraisable == []
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not errors, [(r.name, r.getMessage(), r.exc_info) for r in errors]
