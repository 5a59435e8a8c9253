"""The product's workflow sandbox: the SDK's own (`SandboxedWorkflowRunner`, same restrictions, same
isolation), except that the few lines of code the SDK runs inside a workflow's sandbox are compiled
once per process instead of on every run of them.

The SDK enters a workflow's sandbox by `exec` of a source string: once per activation, and once per
payload sequence its converter visits, to look up that payload's serialization context (about 16
times per agent step, 11.7 of them for the context). `exec` of a string compiles it each time: in a
py-spy profile of the bench's throughput shape, the entering function's own time (which holds the
compiling) was 4% of the worker process's samples, on both sides (docs/benchmarks.md, "Eighth
pass"), and a look-up took 70 us compiled once against 100-140 us. The strings are
the same every time (one per workflow class for the import), so each is compiled once and its code
object reused; `exec` of a code object runs exactly what `exec` of its source would.

When a run leaves the worker's cache (it ended, or was evicted), its workflow object's attributes are
dropped once the SDK has finished with it. The SDK's instance of a run is cyclic (its event loop,
tasks and handlers point back at it), so everything the run held (its transcript, step records,
stream items) otherwise waited as cyclic garbage for the collector's next older pass, whose pause
grows with what it frees: the 1,000-step agent's slowest tasks were such passes (docs/benchmarks.md,
"Performance at parity", thirteenth pass). Dropped here, reference counting frees it at once.

This overrides private methods of the SDK (`_Instance._run_code` and `activate`, and reads the
run's object from the sandbox), for the SDK version the project pins;
`tests/workflow/test_sandbox_runner.py` fails when they change shape.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import CodeType
from typing import Any

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance

__all__ = ["CompiledOnceSandboxRunner", "compiled_snippet"]


@functools.lru_cache(maxsize=512)
def compiled_snippet(source: str) -> CodeType:
    """The code object of one of the SDK's sandbox snippets (bounded: one import line per workflow
    class, and a fixed few others)."""
    return compile(source, "<string>", "exec")


class _CompiledOnceInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # `exec` takes a code object where the SDK passes the source: the same run, without compiling.
        super()._run_code(compiled_snippet(code), **extra_globals)  # type: ignore[arg-type]

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        completion = super().activate(act)
        if any(job.HasField("remove_from_cache") for job in act.jobs):
            # The SDK has cancelled and finished every task of the run (it fails the eviction
            # otherwise), so nothing of the run's code runs again on this object.
            _release_run_object(self.globals_and_locals.get("__temporal_in_sandbox"))
        return completion


def _release_run_object(in_sandbox: Any) -> None:
    """Drops the attributes of an evicted run's workflow object (see the module's docstring)."""
    run_object = getattr(getattr(in_sandbox, "instance", None), "_object", None)
    attributes = getattr(run_object, "__dict__", None)
    if isinstance(attributes, dict):
        attributes.clear()


@dataclass(frozen=True)
class CompiledOnceSandboxRunner(SandboxedWorkflowRunner):
    """`SandboxedWorkflowRunner` whose sandbox snippets are compiled once per process."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledOnceInstance(det, self.runner_class, self.restrictions)
