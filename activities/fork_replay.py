"""Replays a fork's source with the workflow code of this process: the steps its `status` showed (as
this code numbers them) and whether this code still makes the source's history — up to where.

A replay of a closed run needs no worker, and a code change after the fork point does not stop a
fork: the steps recorded before the first nondeterminism are the ones this code can reuse.

What a replay costs is mostly the sandbox: a `Replayer` builds a workflow worker per replay, which
validates every workflow class it is given by importing its module in a new sandbox. So a replay is
given only the source's workflow types, and each class is validated once per process (`_runner`):
the replay itself still runs the source in a sandbox with this code, every time.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    StartActivityInput,
    StartChildWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from common.contracts.runs import ApprovalRecord, StepRecord

__all__ = ["ReplayedSteps", "replay_steps"]


@dataclass
class ReplayedSteps:
    """What the replay saw: the run's steps and decisions so far (the most it reached), and the
    first replay failure (nondeterminism: this code no longer makes that history), if any."""

    steps: list[StepRecord] = field(default_factory=list)
    decisions: list[ApprovalRecord] = field(default_factory=list)
    failure: str | None = None

    def sample(self) -> None:
        """Reads the replayed run's status (workflow code: its `RunContext`), keeping the longest."""
        ctx = getattr(workflow.instance(), "ctx", None)
        status = getattr(ctx, "status", None)
        steps = getattr(status, "completed_steps", None)
        if status is None or not isinstance(steps, list) or len(steps) < len(self.steps):
            return
        self.steps = [StepRecord.model_validate(step.model_dump()) for step in steps]
        self.decisions = [ApprovalRecord.model_validate(d.model_dump()) for d in status.decisions]


class _Capture(Interceptor):
    """Samples the status before every command that waits (activities, children, continue-as-new)
    and when the run ends, so a replay that fails midway still says how far it got."""

    def __init__(self, seen: ReplayedSteps) -> None:
        self.seen = seen

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        seen = self.seen

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> Any:
                seen.sample()
                return super().start_activity(input)

            async def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
                seen.sample()
                return await super().start_child_workflow(input)

            def continue_as_new(self, input: ContinueAsNewInput) -> Any:
                seen.sample()
                return super().continue_as_new(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                try:
                    return await super().execute_workflow(input)
                finally:
                    seen.sample()

        return Inbound


async def replay_steps(
    histories: Sequence[WorkflowHistory],
    workflows: Sequence[type],
    converter: DataConverter,
    passthrough: Sequence[str] = (),
) -> ReplayedSteps:
    """Replays a run chain's histories (first to last) with `workflows` (those of the chain's types,
    or dynamic); stops at the first run that fails to replay. `passthrough`: modules the sandbox
    shares (the worker's kit modules)."""
    seen = ReplayedSteps()
    # Each run's own: a run may continue-as-new as another workflow type.
    types = {
        h.events[0].workflow_execution_started_event_attributes.workflow_type.name: None for h in histories
    }
    chosen = _of_type(workflows, set(types))
    if not chosen:  # a Replayer with no workflow raises ValueError: say what is missing instead
        seen.failure = f"this code has no workflow {next(iter(types))!r}"
        return seen
    replayer = Replayer(
        workflows=chosen,
        data_converter=converter,
        interceptors=[_Capture(seen)],
        workflow_runner=_runner(tuple(passthrough)),
        workflow_failure_exception_types=[ValidationError],
    )
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            seen.failure = str(result.replay_failure).strip().splitlines()[0][:300] or "replay failed"
            break
    return seen


def _of_type(workflows: Sequence[type], workflow_types: set[str]) -> list[type]:
    """The classes a replay of `workflow_types` can need: theirs, and a dynamic one (no name)."""
    return [
        cls
        for cls in workflows
        if (name := workflow._Definition.must_from_class(cls).name) is None or name in workflow_types
    ]


class _ValidatedOnce(WorkflowRunner):
    """A sandboxed runner that validates a workflow class the first time a replayer is built with it
    and not again: the class and its modules cannot change within the process, and a failed
    validation is not remembered (it fails again, as before)."""

    def __init__(self, runner: SandboxedWorkflowRunner) -> None:
        self._runner = runner
        self._validated: set[type] = set()

    def prepare_workflow(self, defn: workflow._Definition) -> None:
        if defn.cls not in self._validated:
            self._runner.prepare_workflow(defn)
            self._validated.add(defn.cls)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return self._runner.create_instance(det)

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        self._runner.set_worker_level_failure_exception_types(types)


@functools.cache
def _runner(passthrough: tuple[str, ...]) -> _ValidatedOnce:
    """One runner per process and set of shared modules (a worker has one; so does a starter)."""
    runner = SandboxedWorkflowRunner()
    return _ValidatedOnce(
        dataclasses.replace(runner, restrictions=runner.restrictions.with_passthrough_modules(*passthrough))
    )
