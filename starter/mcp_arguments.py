"""The MCP server's tool arguments, made from the workflows' own input models: each argument is the
workflow field itself (type, default, bounds, validators), so the schema a client sees and the checks
its call passes are the ones the workflow applies. Arguments that are not workflow fields (`wait_s`,
`workflow_id`, ...) are declared here.

A call's arguments are checked by `parse_arguments`, which answers a bad one in one line naming it
(`invalid top_k: Input should be less than or equal to 50`), as the starter does for its options."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo

from common.contracts.sessions import SendMode, SendRequest, TranscriptQuery
from starter.api import StarterError
from starter.validation import first_invalid
from workflows.answer import AnswerInput
from workflows.models import AgentInput, ResearchDepth, ResearchInput

__all__ = [
    "MAX_WAIT_S",
    "AgentArguments",
    "ApproveArguments",
    "AskArguments",
    "DecideArguments",
    "ResearchArguments",
    "RunResultArguments",
    "RunStatusArguments",
    "SessionSendArguments",
    "SessionTranscriptArguments",
    "StartRunArguments",
    "parse_arguments",
]

A = TypeVar("A", bound=BaseModel)

# A tool call holds the client's request open; past this it returns where the run stands instead.
MAX_WAIT_S = 600.0


def _field(model: type[BaseModel], name: str, description: str) -> Any:
    """`model`'s field `name` (default, bounds, validators), described for the client (a model
    reading the schema); a test checks each argument's type is the workflow field's."""
    return FieldInfo.merge_field_infos(model.model_fields[name], description=description)


def _wait_s(what: str) -> Any:
    return Field(default=60.0, ge=0, le=MAX_WAIT_S, description=what)


def _workflow_id() -> Any:
    return Field(min_length=1, max_length=1000, description="the run's workflow id")


_APPROVERS = "who may approve the run's side effects (none: no approval step)"
_BUDGET = "the run's cost budget in USD (none: no budget)"
_MODEL = "model name (none: the worker's default)"


class AskArguments(BaseModel):
    question: str = _field(AnswerInput, "question", "the question, answered from the corpus with citations")
    corpus: str = _field(
        AnswerInput, "corpus", "the indexed corpus to answer from (python -m starter index DIR --corpus NAME)"
    )
    top_k: int = _field(AnswerInput, "top_k", "how many passages to retrieve")


class ResearchArguments(BaseModel):
    topic: str = _field(ResearchInput, "topic", "what to research")
    max_subtopics: int = _field(ResearchInput, "max_subtopics", "how many subtopics the plan may have")
    depth: ResearchDepth = _field(
        ResearchInput, "depth", "quick: one model step per subtopic; deep: an agent with tools per subtopic"
    )
    deliver_to: str | None = _field(
        ResearchInput, "deliver_to", "where the approved report goes: https://URL, mailto:ADDRESS or file:DIR"
    )
    approvers: list[str] = _field(ResearchInput, "approvers", _APPROVERS)
    budget_usd: float | None = _field(ResearchInput, "budget_usd", _BUDGET)
    model: str | None = _field(ResearchInput, "model", _MODEL)
    wait_s: float = _wait_s("how long to wait for the report before returning the run's id and status")


class AgentArguments(BaseModel):
    goal: str = _field(AgentInput, "goal", "what the agent should achieve")
    tools: list[str] | None = _field(
        AgentInput,
        "tools",
        "the tools to offer by name (none: every built-in read-only tool, plus the side-effect tools when"
        " the run has approvers)",
    )
    max_iterations: int = _field(AgentInput, "max_iterations", "the cap of model steps")
    pause_on_budget: bool = _field(
        AgentInput,
        "pause_on_budget",
        "when the budget is spent, ask the approvers for a top-up instead of ending",
    )
    approvers: list[str] = _field(AgentInput, "approvers", _APPROVERS)
    budget_usd: float | None = _field(AgentInput, "budget_usd", _BUDGET)
    model: str | None = _field(AgentInput, "model", _MODEL)
    wait_s: float = _wait_s("how long to wait for the answer before returning the run's id and status")


class StartRunArguments(BaseModel):
    workflow_type: str = Field(min_length=1, description="the workflow type, e.g. ResearchWorkflow")
    input: dict[str, Any] = Field(default_factory=dict, description="the workflow's input object")


class RunStatusArguments(BaseModel):
    workflow_id: str = _workflow_id()


class RunResultArguments(BaseModel):
    workflow_id: str = _workflow_id()
    wait_s: float = _wait_s("how long to wait for the run to end (0: answer at once)")


class SessionSendArguments(BaseModel):
    workflow_id: str = _workflow_id()
    text: str = _field(SendRequest, "text", "the message")
    mode: SendMode = _field(
        SendRequest, "mode", "queue: a turn of its own; steer: join the running turn; interrupt: stop it"
    )


class SessionTranscriptArguments(BaseModel):
    workflow_id: str = _workflow_id()
    after: int = _field(TranscriptQuery, "after", "the entries after this id (0: from the start)")


class DecideArguments(BaseModel):
    workflow_id: str = _workflow_id()
    comment: str = Field(default="", max_length=2000, description="recorded with the decision")
    action_hash: str | None = Field(
        default=None,
        description="the action hash you reviewed (from run_status): refused if the pending action changed",
    )


class ApproveArguments(DecideArguments):
    for_run: bool = Field(
        default=False,
        description="also approve later calls of this tool with the same targets, for the rest of the run",
    )


def parse_arguments(model: type[A], raw: dict[str, Any]) -> A:
    """The call's arguments (absent ones left out), or `StarterError` naming the first bad one."""
    given = {name: value for name, value in raw.items() if value is not None}
    try:
        return model.model_validate(given)
    except ValidationError as error:
        raise StarterError(first_invalid(error, "arguments")) from None
