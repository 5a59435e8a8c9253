"""Importable async functions other services call; each takes a connected `Client`.

Every failure a caller can act on (unknown workflow id, a decision the approval validator refused, a
run that already ended) raises `StarterError` with a one-line message, so a CLI prints one line and a
service can catch one type.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypedDict, TypeVar, Unpack

from pydantic import BaseModel, ValidationError
from temporalio import workflow
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

from common.approval_signing import KeyFileError
from common.contracts.sessions import (
    CloseRequest,
    SendMode,
    SendRequest,
    SendResult,
    SessionInput,
    SessionResult,
    TranscriptPage,
    TranscriptQuery,
)
from common.redact import redact_url
from common.run_summary import headline
from common.settings import load_settings
from starter import keys
from starter.validation import first_invalid
from workflows.answer import AnswerInput, AnswerResult
from workflows.index import IndexInput, IndexResult
from workflows.kit.delivery import delivery_channel
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

__all__ = [
    "AGENT_WORKFLOW",
    "ANSWER_WORKFLOW",
    "INDEX_WORKFLOW",
    "RESEARCH_WORKFLOW",
    "SESSION_WORKFLOW",
    "RejectOptions",
    "StarterError",
    "approve",
    "build_input",
    "check_input",
    "close_session",
    "describe_run",
    "get_result",
    "get_status",
    "get_transcript",
    "input_summary",
    "new_workflow_id",
    "redact_target",
    "reject",
    "send_message",
    "start_agent",
    "start_answer",
    "start_index",
    "start_research",
    "start_session",
    "start_workflow",
]

DEFAULT_TASK_QUEUE = "ai-workflows"
RESEARCH_WORKFLOW = "ResearchWorkflow"
AGENT_WORKFLOW = "AgentWorkflow"
INDEX_WORKFLOW = "IndexWorkflow"
ANSWER_WORKFLOW = "AnswerWorkflow"
SESSION_WORKFLOW = "SessionWorkflow"
APPROVE = "approve"  # the name of both the Update and the Signal
STATUS = "status"
SEND, CLOSE, TRANSCRIPT = "send", "close", "transcript"  # a session's Updates and Query

T = TypeVar("T")
_In = TypeVar("_In", bound=BaseModel)
_Out = TypeVar("_Out", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)


class StarterError(Exception):
    """A request that cannot be carried out; `str(error)` is one line for a person."""


def new_workflow_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


# --- starting runs ---------------------------------------------------------------------------------


def redact_target(target: str | None) -> str | None:
    """A delivery target fit for memo and Web UI: no credentials, query string or fragment (webhook
    URLs often carry a token there)."""
    return redact_url(target) if target else target


def input_summary(params: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """The input as the memo and Web UI show it: every option, long text shortened, no secrets."""
    summary = (
        params.model_dump(mode="json", exclude_none=True) if isinstance(params, BaseModel) else dict(params)
    )
    for key, value in summary.items():
        if isinstance(value, str) and len(value) > 200:
            summary[key] = value[:200] + "..."
    if isinstance(summary.get("deliver_to"), str):
        summary["deliver_to"] = redact_target(summary["deliver_to"])
    return summary


def _details(title: str, summary: dict[str, Any]) -> str:
    lines = [f"**{title}**", ""]
    lines += [f"- {key}: {value}" for key, value in summary.items()]
    return "\n".join(lines)


async def start_workflow(
    client: Client,
    workflow_type: str,
    params: BaseModel | Mapping[str, Any],
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    workflow_id: str | None = None,
    result_type: type | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start any kit workflow by its type name (the public contract), with a Web UI summary and
    details and a memo of the input (shortened, without secrets) that the inbox and `status` read.
    A JSON-object input of a workflow this process knows is validated first (one-line error)."""
    model = input_model_of(workflow_type)
    if model is not None and not isinstance(params, BaseModel):
        params = build_input(model, **params)
    if isinstance(params, BaseModel):
        check_input(params)
    summary = input_summary(params)
    subject = headline(summary, 100)
    return await _start(
        lambda: client.start_workflow(
            workflow_type,
            params,
            id=workflow_id or new_workflow_id(_id_prefix(workflow_type)),
            task_queue=task_queue,
            result_type=result_type,
            static_summary=f"{_title(workflow_type)}: {subject}" if subject else _title(workflow_type),
            static_details=_details(_title(workflow_type), summary),
            memo={"input": summary, "started_by": "starter"},
        )
    )


def input_model_of(workflow_type: str) -> type[BaseModel] | None:
    """The input model of a workflow type registered in this process (the product's and the
    installed extensions'), or None."""
    for cls in known_workflows():
        definition = workflow._Definition.from_class(cls)
        if definition is None or definition.name != workflow_type:
            continue
        arg_types = definition.arg_types or []
        if arg_types and isinstance(arg_types[0], type) and issubclass(arg_types[0], BaseModel):
            return arg_types[0]
    return None


def known_workflows() -> list[type]:
    from worker.plugin import load_extensions, product_workflows

    try:
        extensions = load_extensions(load_settings())
    except Exception:  # a broken extension is the worker's to report; the starter starts by name
        extensions = []
    return product_workflows() + [w for e in extensions for w in e.workflows]


def _title(workflow_type: str) -> str:
    return workflow_type.removesuffix("Workflow") or workflow_type


def _id_prefix(workflow_type: str) -> str:
    return _title(workflow_type).lower()


class _StartShipped(Generic[_In, _Out]):
    """`start_research(client, params, task_queue=..., workflow_id=...)` and its siblings: start one
    shipped workflow type (see `start_workflow`), its handle's result typed."""

    def __init__(self, workflow_type: str, result_type: type[_Out]) -> None:
        self.workflow_type = workflow_type
        self.result_type = result_type

    async def __call__(
        self,
        client: Client,
        params: _In,
        *,
        task_queue: str = DEFAULT_TASK_QUEUE,
        workflow_id: str | None = None,
    ) -> WorkflowHandle[Any, _Out]:
        return await start_workflow(
            client,
            self.workflow_type,
            params,
            task_queue=task_queue,
            workflow_id=workflow_id,
            result_type=self.result_type,
        )


start_research = _StartShipped[ResearchInput, ResearchResult](RESEARCH_WORKFLOW, ResearchResult)
start_agent = _StartShipped[AgentInput, AgentResult](AGENT_WORKFLOW, AgentResult)
# A folder (a path on the workers' hosts) into the grounded-answer index.
start_index = _StartShipped[IndexInput, IndexResult](INDEX_WORKFLOW, IndexResult)
# A question answered from an indexed corpus, with citations.
start_answer = _StartShipped[AnswerInput, AnswerResult](ANSWER_WORKFLOW, AnswerResult)
# A durable conversation: `send_message`, `get_transcript`, `close_session` talk to it.
start_session = _StartShipped[SessionInput, SessionResult](SESSION_WORKFLOW, SessionResult)


def check_input(params: BaseModel) -> None:
    """The checks a workflow makes in its first task (a `deliver_to` it can use, tools it knows),
    made before starting, so a bad request is one line here instead of a failed run."""
    try:
        if isinstance(getattr(params, "deliver_to", None), str):
            delivery_channel(params.deliver_to)  # type: ignore[attr-defined]
        if isinstance(params, AgentInput | SessionInput):
            registered, names = registered_tools(), params.tools
            if names is not None:  # MCP tools (`server__tool`): only the worker knows its servers
                names = [name for name in names if name in registered or "__" not in name]
            choose_tools(registered, names, bool(params.approvers))
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
        names = ", ".join(f"--{_option_spelling(name)}" for name in unsupported)
        raise StarterError(f"{names}: not an input of this version's {input_model.__name__}")
    try:
        return input_model.model_validate(given)
    except ValidationError as error:
        raise StarterError(first_invalid(error, "input", _option_spelling)) from None


def _option_spelling(name: str) -> str:
    return name.replace("_", "-")


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
    key: Path | None = None,
    for_run: bool = False,
    signed_by: str | None = None,
    expires_in_s: float = keys.DEFAULT_EXPIRES_IN_S,
) -> ApprovalRecord | None:
    """Decide the pending approval. By Update (default): returns the decision the workflow recorded,
    or raises `StarterError` with the validator's reason (a refused Update leaves no trace in the
    run's history). By Signal: fire-and-forget, returns None; the workflow ignores an invalid one.

    `action_hash` binds the decision to the action the approver reviewed (from `status`): if the
    pending action changed since, the decision is refused. `budget_usd` answers a budget top-up.
    `for_run` approves this tool with the same targets for the rest of the run. `key` (a `.key`
    file) signs the decision, over the pending action's hash (from `status` unless given), valid for
    `expires_in_s`; `signed_by` names the key in `APPROVER_KEYS_FILE` (default: the approver)."""
    try:
        # Checked as a client's input: a bad value is a one-line error before anything is sent.
        decision = ApprovalDecision.model_validate(
            {
                "approver": approver,
                "approved": approved,
                "comment": comment,
                "action_hash": action_hash,
                "budget_usd": budget_usd,
                "for_run": for_run,
            }
        )
    except ValidationError as error:
        raise StarterError(f"invalid decision: {error.errors()[0]['msg']}") from None
    if key is not None:
        decision = await _signed(client, workflow_id, decision, key, signed_by, expires_in_s)
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


async def _signed(
    client: Client,
    workflow_id: str,
    decision: ApprovalDecision,
    key: Path,
    signed_by: str | None,
    expires_in_s: float,
) -> ApprovalDecision:
    """The decision signed with `key`, over the action it names or, without one, the pending one."""
    if not decision.action_hash:
        pending = (await get_status(client, workflow_id)).pending_approval
        if pending is None:
            raise StarterError(
                f"{workflow_id}: nothing is waiting for a decision, so there is nothing to sign"
            )
        decision = decision.model_copy(update={"action_hash": pending.action_hash})
    try:
        return keys.sign(
            decision, key, workflow_id=workflow_id, signed_by=signed_by, expires_in_s=expires_in_s
        )
    except KeyFileError as error:
        raise StarterError(str(error)) from None
    except ValueError as error:
        raise StarterError(f"cannot sign the decision: {error}") from None


class RejectOptions(TypedDict, total=False):
    via_signal: bool
    action_hash: str | None
    key: Path | None
    for_run: bool
    signed_by: str | None
    expires_in_s: float


async def reject(
    client: Client, workflow_id: str, approver: str, comment: str = "", **options: Unpack[RejectOptions]
) -> ApprovalRecord | None:
    """`approve` with `approved=False`: the same Update (or Signal) and the same refusals."""
    return await approve(client, workflow_id, approver, comment, approved=False, **options)


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


async def get_result(client: Client, workflow_id: str) -> Any:
    """Wait for the run's result: a `ResearchResult` / `AgentResult` for the shipped workflows, the
    result's model for another known workflow type, else its plain JSON value. A failed run raises
    `StarterError`."""
    workflow_type, _ = await describe_run(client, workflow_id)
    result_type = result_model_of(workflow_type)
    try:
        return await client.get_workflow_handle(workflow_id, result_type=result_type).result()
    except WorkflowFailureError as error:
        raise StarterError(f"{workflow_id}: the run failed: {_cause_message(error.cause)}") from None
    except RPCError as error:
        raise _rpc_error(workflow_id, error) from None


def result_model_of(workflow_type: str) -> type | None:
    for cls in known_workflows():
        definition = workflow._Definition.from_class(cls)
        if definition is not None and definition.name == workflow_type and definition.ret_type is not None:
            return definition.ret_type if isinstance(definition.ret_type, type) else None
    return None


# --- sessions --------------------------------------------------------------------------------------


async def send_message(
    client: Client, workflow_id: str, text: str, mode: SendMode = "queue", sender: str | None = None
) -> SendResult:
    """Send a message into a session (the `send` Update): returns as soon as the session recorded it
    (its id, its turn, how it was taken: a `steer` with no turn running is taken as `queue`), not
    when it is answered. A refused message raises `StarterError` with the validator's reason."""
    try:
        request = SendRequest(text=text, mode=mode, sender=sender)
    except ValidationError as error:
        first = error.errors()[0]
        raise StarterError(f"invalid message {first['loc'][0]}: {first['msg']}") from None
    return await _session_update(client, workflow_id, SEND, request, SendResult, "message refused")


async def close_session(client: Client, workflow_id: str, reason: str = "") -> TranscriptPage:
    """Close a session (the `close` Update): it ends after the running turn. Returns where the
    conversation stands (no entries: the page's `last_id`, `phase`, `turn`)."""
    try:
        request = CloseRequest(reason=reason)
    except ValidationError as error:
        raise StarterError(f"invalid reason: {error.errors()[0]['msg']}") from None
    return await _session_update(client, workflow_id, CLOSE, request, TranscriptPage, "close refused")


async def get_transcript(client: Client, workflow_id: str, after: int = 0) -> TranscriptPage:
    """A session's transcript entries after entry `after` (0: all), with its phase and turn."""
    if after < 0:
        raise StarterError(f"invalid after: {after} (0 or an entry id)")
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.query(TRANSCRIPT, TranscriptQuery(after=after), result_type=TranscriptPage)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
        raise StarterError(f"{workflow_id}: transcript query failed: {error}") from None
    except RPCError as error:
        raise _rpc_error(workflow_id, error) from None


async def _session_update(
    client: Client, workflow_id: str, name: str, request: BaseModel, result_type: type[M], refused: str
) -> M:
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.execute_update(name, request, result_type=result_type)
    except WorkflowUpdateFailedError as error:
        raise StarterError(f"{workflow_id}: {refused}: {_cause_message(error.cause)}") from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # also what an Update to a closed run gets
            _, status = await describe_run(client, workflow_id)  # raises for an unknown id
            if status is not None and status != WorkflowExecutionStatus.RUNNING:
                raise StarterError(
                    f"{workflow_id}: {refused}: the session has ended ({status.name.lower()}); start a new one"
                ) from None
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
