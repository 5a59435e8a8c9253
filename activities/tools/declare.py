"""Tools declared once: a decorator on a typed async function makes the tool the model sees (name,
description, the input model's JSON schema), its activity (`tool.<name>`) and its approval policy.

    class LookupInput(BaseModel):
        email: str = Field(description="The customer's email address")

    @tool(description="Look up a customer by email.")
    async def lookup_customer(params: LookupInput) -> str:
        ...

    @tool(description="Send the reply.", side_effect=True, targets=("to",))
    async def send_reply(params: ReplyInput, call: ToolCall) -> str:
        ...  # call.idempotency_key: the same for every retry of this approved call

The decorated name is a `ToolDefinition`; workflows use it (or its name) through the run context,
workers register `definition.activity`. A read-only tool's activity takes its input model; a
side-effect tool's takes `SideEffectToolInput` (the approved arguments and the idempotency key), and
runs only after the approval gate approved that exact call; `targets` names the arguments that say
where its action goes (a recipient, a URL, an account), shown first to the reviewer. A tool returns text or a
`ToolObservation`; a failure the model should read is `ToolObservation(..., is_error=True)` or a
`ToolError`, anything else raised is retried by Temporal.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, TypedDict, Unpack, get_type_hints, overload

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from common.contracts.llm import ToolSpec
from common.contracts.tools import SideEffectToolInput, ToolObservation

__all__ = [
    "INVALID_TOOL_ARGUMENTS",
    "ToolApproval",
    "ToolCall",
    "ToolDeclaration",
    "ToolDefinition",
    "ToolError",
    "ToolOptions",
    "ToolRegistry",
    "registry",
    "tool",
]

INVALID_TOOL_ARGUMENTS = "InvalidToolArguments"
# When a tool's calls wait for a person: "side_effect" exactly when the tool has a side effect;
# "always" / "never" override. (Not a run's `approval_policy`, which decides at a deadline.)
ToolApproval = Literal["side_effect", "always", "never"]


class ToolError(Exception):
    """Raised by a tool for a failure the model should read and may act on (a bad query, a missing
    record): it becomes an error observation, not a retry."""


@dataclass(frozen=True)
class ToolCall:
    """What a tool may know about the call it serves."""

    name: str
    # Side-effect tools: made in the workflow, stable across retries, resets and continue-as-new.
    idempotency_key: str | None = None


ToolResult = str | ToolObservation
ToolFunction = Callable[..., Awaitable[ToolResult]]


@dataclass(frozen=True)
class ToolDefinition:
    name: str
    description: str
    input_model: type[BaseModel]
    side_effect: bool
    approval: ToolApproval
    function: ToolFunction = field(repr=False, compare=False)
    activity: Callable[..., Awaitable[ToolObservation]] = field(repr=False, compare=False)
    # The arguments that say where the action goes, shown first to a reviewer (never model-chosen).
    targets: tuple[str, ...] = ()
    options: ToolOptions = field(default_factory=lambda: ToolOptions())

    @property
    def activity_name(self) -> str:
        return f"tool.{self.name}"

    @property
    def needs_approval(self) -> bool:
        return self.approval == "always" or (self.approval == "side_effect" and self.side_effect)

    def spec(self) -> ToolSpec:
        """What the model is offered. The JSON schema is built once per process (pydantic takes about
        1 ms per schema, and each run of a workflow asked again); each caller gets its own copy."""
        return _spec_of(self.name, self.description, self.input_model).model_copy(deep=True)


@functools.lru_cache(maxsize=1024)
def _spec_of(name: str, description: str, input_model: type[BaseModel]) -> ToolSpec:
    return ToolSpec(name=name, description=description, input_schema=input_model.model_json_schema())


class ToolRegistry:
    """Tools by name. The process-wide `registry` holds every tool declared with `@tool`: the built-in
    ones and those of the worker's plugins, so every worker of a deployment knows the same tools."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolDefinition] = {}

    def add(self, definition: ToolDefinition) -> None:
        known = self._tools.get(definition.name)
        if known is not None and known.function is not definition.function:
            raise ValueError(f"a tool named {definition.name!r} is declared twice")
        self._tools[definition.name] = definition

    def get(self, name: str) -> ToolDefinition | None:
        return self._tools.get(name)

    def __getitem__(self, name: str) -> ToolDefinition:
        return self._tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return sorted(self._tools)

    def all(self) -> list[ToolDefinition]:
        """By name: every worker offers a model the same tools in the same order, whatever order
        its modules were imported in."""
        return [self._tools[name] for name in self.names()]


registry = ToolRegistry()


@dataclass(frozen=True)
class ToolOptions:
    """A tool's own activity options, over the defaults (TOOL_CALL for read-only tools, DELIVERY for
    side effects): how long one attempt may take, and how many attempts in all."""

    timeout: timedelta | None = None
    max_attempts: int | None = None


class ToolDeclaration(TypedDict, total=False):
    """`@tool`'s options: `name` (default the function's), `description` (default its docstring),
    `side_effect` (False), `approval` ("side_effect"), `targets` (the arguments a reviewer sees
    first), `timeout` (one attempt) and `max_attempts` (over the default activity options), `into`
    (a registry other than the process-wide one)."""

    name: str | None
    description: str | None
    side_effect: bool
    approval: ToolApproval
    targets: tuple[str, ...]
    timeout: timedelta | None
    max_attempts: int | None
    into: ToolRegistry | None


@overload
def tool(function: ToolFunction, /, **declared: Unpack[ToolDeclaration]) -> ToolDefinition: ...


@overload
def tool(
    function: None = None, /, **declared: Unpack[ToolDeclaration]
) -> Callable[[ToolFunction], ToolDefinition]: ...


def tool(
    function: ToolFunction | None = None, /, **declared: Unpack[ToolDeclaration]
) -> ToolDefinition | Callable[[ToolFunction], ToolDefinition]:
    """Declares a tool (see the module docstring and `ToolDeclaration` for the options)."""
    max_attempts = declared.get("max_attempts")
    if max_attempts is not None and max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    options = ToolOptions(timeout=declared.get("timeout"), max_attempts=max_attempts)

    def declare(fn: ToolFunction) -> ToolDefinition:
        definition = _definition(
            fn,
            declared.get("name"),
            declared.get("description"),
            declared.get("side_effect", False),
            declared.get("approval", "side_effect"),
            tuple(declared.get("targets", ())),
            options,
        )
        (declared.get("into") or registry).add(definition)
        return definition

    return declare(function) if function is not None else declare


def _definition(
    fn: ToolFunction,
    name: str | None,
    description: str | None,
    side_effect: bool,
    approval: ToolApproval,
    targets: tuple[str, ...],
    options: ToolOptions,
) -> ToolDefinition:
    tool_name = name or fn.__name__
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"tool {tool_name!r} must be an async function")
    parameters = list(inspect.signature(fn).parameters)
    hints = get_type_hints(fn)
    input_model = hints.get(parameters[0]) if parameters else None
    if not (isinstance(input_model, type) and issubclass(input_model, BaseModel)):
        raise TypeError(f"tool {tool_name!r}: its first parameter must be annotated with a pydantic model")
    unknown_targets = sorted(set(targets) - set(input_model.model_json_schema().get("properties", {})))
    if unknown_targets:
        raise TypeError(f"tool {tool_name!r}: targets {unknown_targets} are not fields of its input model")
    text = description or inspect.getdoc(fn)
    if not text:
        raise TypeError(f"tool {tool_name!r} needs a description (argument or docstring): the model reads it")
    wants_call = len(parameters) > 1

    async def invoke(arguments: BaseModel, call: ToolCall) -> ToolObservation:
        try:
            result = await (fn(arguments, call) if wants_call else fn(arguments))
        except ToolError as error:
            return ToolObservation(content=str(error), is_error=True)
        return result if isinstance(result, ToolObservation) else ToolObservation(content=str(result))

    if side_effect:

        async def run_side_effect(request: SideEffectToolInput) -> ToolObservation:
            try:
                arguments = input_model.model_validate(request.arguments)
            except ValidationError as error:
                # The workflow validated them before asking a person: bad ones here are a bug.
                raise ApplicationError(
                    f"{tool_name}: {_first_problem(error)}", type=INVALID_TOOL_ARGUMENTS, non_retryable=True
                ) from None
            return await invoke(arguments, ToolCall(tool_name, request.idempotency_key))

        runner: Callable[..., Awaitable[ToolObservation]] = run_side_effect
    else:

        async def run_read_only(arguments: BaseModel) -> ToolObservation:
            return await invoke(arguments, ToolCall(tool_name))

        # The SDK reads the activity's parameter type from its annotations: the tool's own model.
        run_read_only.__annotations__ = {"arguments": input_model, "return": ToolObservation}
        runner = run_read_only
    runner.__name__ = runner.__qualname__ = f"tool_{tool_name}"
    runner.__doc__ = text
    activity_fn = activity.defn(name=f"tool.{tool_name}")(runner)
    return ToolDefinition(
        name=tool_name,
        description=text,
        input_model=input_model,
        side_effect=side_effect,
        approval=approval,
        function=fn,
        activity=activity_fn,
        targets=targets,
        options=options,
    )


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "arguments"
    return f"{where}: {first.get('msg', 'invalid value')}"
