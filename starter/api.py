"""Importable async functions other services call; each takes a connected `Client`.

Every failure a caller can act on (unknown workflow id, a decision the approval validator refused, a
run that already ended) raises `StarterError` with a one-line message, so a CLI prints one line and a
service can catch one type.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.kit.tools import choose_tools, registered_tools
from workflows.models import (
    AgentInput,
    AgentResult,
    ApprovalDecision,
    ApprovalRecord,
    ResearchInput,
    ResearchResult,
    WorkflowStatus,
)
from workflows.research import ResearchWorkflow, delivery_channel

DEFAULT_TASK_QUEUE = "ai-workflows"
RESEARCH_WORKFLOW = "ResearchWorkflow"
AGENT_WORKFLOW = "AgentWorkflow"
APPROVE = "approve"  # the name of both the Update and the Signal
STATUS = "status"

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class StarterError(Exception):
    """A request that cannot be carried out; `str(error)` is one line for a person."""


def new_workflow_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


# --- starting runs ---------------------------------------------------------------------------------


def redact_target(target: str | None) -> str | None:
    """A delivery target fit for memo and Web UI: no credentials, query string or fragment (webhook
    URLs often carry a token there)."""
    if not target:
        return target
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"
    return target


def input_summary(params: ResearchInput | AgentInput) -> dict[str, Any]:
    """The input as the memo and Web UI show it: every option, long text shortened, no secrets."""
    summary = params.model_dump(mode="json", exclude_none=True)
    for text_field in ("topic", "goal"):
        if text_field in summary and len(summary[text_field]) > 200:
            summary[text_field] = summary[text_field][:200] + "..."
    if "deliver_to" in summary:
        summary["deliver_to"] = redact_target(summary["deliver_to"])
    return summary


def _details(title: str, summary: dict[str, Any]) -> str:
    lines = [f"**{title}**", ""]
    lines += [f"- {key}: {value}" for key, value in summary.items()]
    return "\n".join(lines)


async def start_research(
    client: Client,
    params: ResearchInput,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    workflow_id: str | None = None,
) -> WorkflowHandle[ResearchWorkflow, ResearchResult]:
    check_input(params)
    summary = input_summary(params)
    return await _start(
        lambda: client.start_workflow(
            ResearchWorkflow.run,
            params,
            id=workflow_id or new_workflow_id("research"),
            task_queue=task_queue,
            static_summary=f"Research: {params.topic[:100]}",
            static_details=_details("Research", summary),
            memo={"input": summary, "started_by": "starter"},
        )
    )


async def start_agent(
    client: Client,
    params: AgentInput,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    workflow_id: str | None = None,
) -> WorkflowHandle[Any, AgentResult]:
    check_input(params)
    summary = input_summary(params)
    # By type name, the public contract: the starter works against any worker that registers it.
    return await _start(
        lambda: client.start_workflow(
            AGENT_WORKFLOW,
            params,
            id=workflow_id or new_workflow_id("agent"),
            task_queue=task_queue,
            result_type=AgentResult,
            static_summary=f"Agent: {params.goal[:100]}",
            static_details=_details("Agent", summary),
            memo={"input": summary, "started_by": "starter"},
        )
    )


def check_input(params: ResearchInput | AgentInput) -> None:
    """The checks a workflow makes in its first task (a `deliver_to` it can use, tools it knows),
    made before starting, so a bad request is one line here instead of a failed run."""
    try:
        if isinstance(params, ResearchInput):
            delivery_channel(params.deliver_to)
        else:
            registered = registered_tools()
            # MCP tools (`server__tool`) are known to the worker only: it checks them at start.
            named = params.tools and [n for n in params.tools if n in registered or "__" not in n]
            choose_tools(registered, named if params.tools is not None else None, bool(params.approvers))
    except ApplicationError as error:
        raise StarterError(f"invalid input: {error.message}") from None


async def _start(start: Callable[[], Awaitable[T]]) -> T:
    try:
        return await start()
    except WorkflowAlreadyStartedError as error:
        raise StarterError(f"a workflow with id {error.workflow_id!r} is already running") from None
    except RPCError as error:
        raise StarterError(f"cannot start the workflow: {error.message}") from None


def build_input(input_model: type[M], /, **options: Any) -> M:
    """The workflow input from CLI options (None means: the workflow's default); a validation error
    becomes one line naming the option."""
    given = {key: value for key, value in options.items() if value is not None}
    unsupported = sorted(set(given) - set(input_model.model_fields))
    if unsupported:
        names = ", ".join(f"--{name.replace('_', '-')}" for name in unsupported)
        raise StarterError(f"{names}: not an input of this version's {input_model.__name__}")
    try:
        return input_model.model_validate(given)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "input"
        raise StarterError(f"invalid {where.replace('_', '-')}: {first['msg']}") from None


# --- steering runs ---------------------------------------------------------------------------------


async def approve(
    client: Client,
    workflow_id: str,
    approver: str,
    comment: str = "",
    *,
    approved: bool = True,
    via_signal: bool = False,
    action_hash: str | None = None,
    budget_usd: float | None = None,
) -> ApprovalRecord | None:
    """Decide the pending approval. By Update (default): returns the decision the workflow recorded,
    or raises `StarterError` with the validator's reason (a refused Update leaves no trace in the
    run's history). By Signal: fire-and-forget, returns None; the workflow ignores an invalid one.

    `action_hash` binds the decision to the action the approver reviewed (from `status`): if the
    pending action changed since, the decision is refused. `budget_usd` answers a budget top-up."""
    try:
        decision = ApprovalDecision(
            approver=approver,
            approved=approved,
            comment=comment,
            action_hash=action_hash,
            budget_usd=budget_usd,
        )
    except ValidationError as error:
        raise StarterError(f"invalid decision: {error.errors()[0]['msg']}") from None
    handle = client.get_workflow_handle(workflow_id)
    try:
        if via_signal:
            await handle.signal(APPROVE, decision)
            return None
        return await handle.execute_update(APPROVE, decision, result_type=ApprovalRecord)
    except WorkflowUpdateFailedError as error:
        raise StarterError(f"{workflow_id}: decision refused: {_cause_message(error.cause)}") from None
    except RPCError as error:
        raise _rpc_error(workflow_id, error) from None


async def reject(
    client: Client,
    workflow_id: str,
    approver: str,
    comment: str = "",
    *,
    via_signal: bool = False,
    action_hash: str | None = None,
) -> ApprovalRecord | None:
    return await approve(
        client, workflow_id, approver, comment, approved=False, via_signal=via_signal, action_hash=action_hash
    )


async def get_status(client: Client, workflow_id: str) -> WorkflowStatus:
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.query(STATUS, result_type=WorkflowStatus)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
        raise StarterError(f"{workflow_id}: status query failed: {error}") from None
    except RPCError as error:
        raise _rpc_error(workflow_id, error) from None


async def describe_run(client: Client, workflow_id: str) -> tuple[str, WorkflowExecutionStatus | None]:
    """The workflow type and execution status of the latest run with this id."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        raise _rpc_error(workflow_id, error) from None
    return description.workflow_type, description.status


async def get_result(client: Client, workflow_id: str) -> ResearchResult | AgentResult:
    """Wait for the run's result (typed by its workflow type); a failed run raises `StarterError`."""
    workflow_type, _ = await describe_run(client, workflow_id)
    result_type: type[ResearchResult] | type[AgentResult] = (
        AgentResult if workflow_type == AGENT_WORKFLOW else ResearchResult
    )
    try:
        return await client.get_workflow_handle(workflow_id, result_type=result_type).result()
    except WorkflowFailureError as error:
        raise StarterError(f"{workflow_id}: the run failed: {_cause_message(error.cause)}") from None
    except RPCError as error:
        raise _rpc_error(workflow_id, error) from None


def _cause_message(cause: BaseException) -> str:
    if isinstance(cause, ApplicationError):
        return cause.message
    message = getattr(cause, "message", None) or str(cause)
    inner = cause.__cause__
    return f"{message}: {_cause_message(inner)}" if inner is not None else message


def _rpc_error(workflow_id: str, error: RPCError) -> StarterError:
    if error.status == RPCStatusCode.NOT_FOUND:
        return StarterError(f"no workflow with id {workflow_id!r}: {error.message}")
    return StarterError(f"{workflow_id}: {error.message}")
