"""Tools as a workflow sees them: what the model is offered, how a call's arguments are checked, and
how the call is run. Registered tools (`@tool`) come from the registry; tools discovered at run time
(an MCP server's) implement the same `WorkflowTool` interface and are added to the run context.

Workflow code only: the calls below schedule activities, they do no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.tools import builtin as _builtin
    from activities.tools.declare import ToolDefinition, registry
    from common.contracts.llm import ToolSpec
    from common.contracts.runs import ApprovalRecord, invalid_input
    from common.contracts.tools import SideEffectToolInput, ToolObservation
    from workflows.actions import visible
    from workflows.activity_options import DELIVERY, TOOL_CALL, ActivityOptions

__all__ = [
    "InvalidArguments",
    "RegisteredTool",
    "WorkflowTool",
    "choose_tools",
    "describe_validation_error",
    "refuse_undeclared",
    "registered_tools",
]


class InvalidArguments(Exception):
    """A call's arguments do not fit the tool's input schema: the model reads this and can retry."""


def describe_validation_error(error: ValidationError) -> str:
    """Field paths and messages only: the model sees what to fix, no input values are echoed."""
    parts = [
        f"{'.'.join(str(part) for part in item['loc']) or 'arguments'}: {item['msg']}"
        for item in error.errors()[:5]
    ]
    return "; ".join(parts)


class WorkflowTool(ABC):
    """A tool a run can offer its model."""

    name: str
    # A person approves each call first (the gate shows the whole call; its hash binds the arguments).
    needs_approval: bool
    # The call gets an idempotency key (`RunContext.idempotency_key`), stable across retries.
    needs_key: bool
    # The arguments that say where a call goes, as the tool declares them: shown first to a reviewer.
    targets: tuple[str, ...] = ()

    @abstractmethod
    def spec(self) -> ToolSpec: ...

    @abstractmethod
    def parse(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the tool will run them; raises `InvalidArguments`."""

    @abstractmethod
    async def run(
        self, arguments: dict[str, Any], key: str | None, summary: str, approval: ApprovalRecord | None = None
    ) -> ToolObservation:
        """Runs the call (schedules its activity); raises the activity's `ActivityError`. `approval`:
        the gate's decision on this call, when it needed one (an activity may check it)."""


class RegisteredTool(WorkflowTool):
    """A tool declared with `@tool`."""

    def __init__(self, definition: ToolDefinition) -> None:
        self.definition = definition
        self.name = definition.name
        self.needs_approval = definition.needs_approval
        self.needs_key = definition.side_effect
        self.targets = definition.targets
        self._spec: ToolSpec | None = None

    def spec(self) -> ToolSpec:
        if self._spec is None:  # built once: pydantic takes about 0.3 ms per JSON schema, per call
            self._spec = self.definition.spec()
        return self._spec

    def parse(self, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            parsed = self.definition.input_model.model_validate(arguments)
        except ValidationError as error:
            raise InvalidArguments(describe_validation_error(error)) from None
        refuse_undeclared(arguments, self.spec().input_schema)
        dumped: dict[str, Any] = parsed.model_dump(mode="json")
        return dumped

    async def run(
        self, arguments: dict[str, Any], key: str | None, summary: str, approval: ApprovalRecord | None = None
    ) -> ToolObservation:
        definition = self.definition
        if definition.side_effect:
            # Retried for longer (a receiver may be down a while): the idempotency key makes it safe.
            request = SideEffectToolInput(arguments=arguments, idempotency_key=key or "")
            return await workflow.execute_activity(
                definition.activity, request, summary=summary, **self._options(DELIVERY).kwargs()
            )
        model = definition.input_model.model_validate(arguments)
        # A read-only call goes without a Web UI summary (its tool is the activity's type): a
        # summary is one more payload per call for the SDK to visit; side effects keep theirs.
        return await workflow.execute_activity(
            definition.activity, model, **self._options(TOOL_CALL).kwargs()
        )

    def _options(self, default: ActivityOptions) -> ActivityOptions:
        """`default` with the tool's own timeout and attempts (`@tool(timeout=, max_attempts=)`)."""
        own = self.definition.options
        options = default
        if own.timeout is not None:
            longest = (
                None if options.schedule_to_close is None else max(own.timeout, options.schedule_to_close)
            )
            options = replace(options, start_to_close=own.timeout, schedule_to_close=longest)
        if own.max_attempts is not None:
            options = replace(options, retry=replace(options.retry, maximum_attempts=own.max_attempts))
        return options


def refuse_undeclared(arguments: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """Raises `InvalidArguments` for an argument the tool's schema does not declare: a model must not
    add what a reviewer could take for a target (`"to": ...`), or what the tool would read unseen."""
    declared = schema.get("properties") or {}
    unknown = sorted(set(arguments) - set(declared))
    if unknown:
        # Names are model-chosen text: escaped, so a newline cannot start a line of its own.
        shown = ", ".join(f"'{visible(name, keep=frozenset())}'" for name in unknown)
        raise InvalidArguments(f"unknown arguments {shown}; the tool declares {sorted(declared)}")


def registered_tools() -> dict[str, WorkflowTool]:
    """Every tool declared with `@tool` in this process (built-in and the extensions')."""
    return {definition.name: RegisteredTool(definition) for definition in registry.all()}


def choose_tools(
    available: Mapping[str, WorkflowTool], names: Sequence[str] | None, can_approve: bool
) -> list[WorkflowTool]:
    """The tools a run offers: `names`, or (None) the built-in tools that need no approval plus, when
    someone can approve, those that do — an extension's tools are offered only when a run names
    them. An unknown tool, or one that needs approval in a run without approvers, is a
    non-retryable `InvalidInput`: the run's input can never succeed."""
    if names is None:
        defaults = [available[t.name] for t in _builtin.BUILTIN_TOOLS if t.name in available]
        return [t for t in defaults if not t.needs_approval or can_approve]
    unknown = sorted(set(names) - available.keys())
    if unknown:
        raise invalid_input(f"unknown tools {unknown}; known tools: {sorted(available)}")
    chosen = [available[name] for name in names]
    needs_approver = sorted(t.name for t in chosen if t.needs_approval and not can_approve)
    if needs_approver:
        raise invalid_input(f"tools {needs_approver} need approval: give the run `approvers`")
    return chosen
