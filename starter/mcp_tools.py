"""What the MCP server's tools do, on `starter.api`: start runs, follow them with progress, read their
status and results, talk to sessions, and (only with an approver's key) decide approvals.

Each method takes its parsed arguments and returns a JSON object; a failure a client can act on is
`StarterError` (or `TemporalUnreachable`) with the product's one-line reason. A run outlives the
call that started it: a client that goes away stops only the following, never the run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus

from common import search_attributes as sa
from common.client import connect
from common.settings import Settings
from starter import api, mcp_arguments, render
from starter.watch import AWAITING_APPROVAL, ProgressEvent, watch
from workflows.answer import AnswerInput
from workflows.models import AgentInput, ResearchInput

__all__ = ["Approver", "Progress", "RunTools", "TemporalConnection", "known_workflow_types"]

# Runs waiting for a decision, as the inbox lists them (the AiPhase search attribute).
PENDING_QUERY = f'{sa.PHASE.name} = "{AWAITING_APPROVAL}" AND ExecutionStatus = "Running"'
MAX_PENDING_LISTED = 200
# A status query of a running run answers in milliseconds; a run no worker polls would hold it.
STATUS_WAIT_S = 10.0

Progress = Callable[[float, str], Awaitable[None]]  # (count so far, what happened)


@dataclass(frozen=True)
class Approver:
    """Who the server decides for, and the private key it signs with (`starter keys new NAME`)."""

    name: str
    key_file: Path


class TemporalConnection:
    """The Temporal client, connected on first use (a desktop client may start the server before
    Temporal is up); an unreachable server is a one-line `TemporalUnreachable` for that call."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await connect(self._settings, wait_s=5)
            return self._client


def known_workflow_types() -> list[str]:
    """The workflow types the starter knows: the product's and the installed extensions'."""
    names = []
    for cls in api.known_workflows():
        definition = workflow._Definition.from_class(cls)
        if definition is not None and definition.name:
            names.append(definition.name)
    return sorted(set(names))


def jsonable(value: Any) -> Any:
    return to_jsonable_python(value)


class RunTools:
    def __init__(self, settings: Settings, connection: TemporalConnection, approver: Approver | None) -> None:
        self._settings = settings
        self._connection = connection
        self.approver = approver

    # --- starting and following runs -----------------------------------------------------------

    async def ask(self, args: mcp_arguments.AskArguments, progress: Progress) -> dict[str, Any]:
        """Run `AnswerWorkflow` to its end: the answer, its citations and the outcome."""
        params = api.build_input(AnswerInput, **args.model_dump())
        handle = await self._start(api.ANSWER_WORKFLOW, params)
        followed = await self._follow(handle.id, progress, wait_s=None)
        result = followed["result"]
        return {
            "workflow_id": handle.id,
            "answer": result["answer"],
            "citations": result["citations"],
            "outcome": result["outcome"],
            "reasons": result["reasons"],
            "cost_usd": result["cost_usd"],
        }

    async def research(self, args: mcp_arguments.ResearchArguments, progress: Progress) -> dict[str, Any]:
        options = args.model_dump(exclude={"wait_s"})
        # Workflows cannot read settings: the worker-side default concurrency comes with the input.
        params = api.build_input(ResearchInput, **options, max_parallel=self._settings.research_max_parallel)
        handle = await self._start(api.RESEARCH_WORKFLOW, params)
        return await self._follow(handle.id, progress, wait_s=args.wait_s)

    async def agent(self, args: mcp_arguments.AgentArguments, progress: Progress) -> dict[str, Any]:
        params = api.build_input(AgentInput, **args.model_dump(exclude={"wait_s"}))
        handle = await self._start(api.AGENT_WORKFLOW, params)
        return await self._follow(handle.id, progress, wait_s=args.wait_s)

    async def start_run(self, args: mcp_arguments.StartRunArguments) -> dict[str, Any]:
        known = known_workflow_types()
        workflow_type: str = args.workflow_type
        if workflow_type not in known:
            raise api.StarterError(f"unknown workflow type {workflow_type!r} (known: {', '.join(known)})")
        handle = await self._start(workflow_type, args.input)
        return {"workflow_id": handle.id, "workflow_type": workflow_type}

    async def run_result(self, args: mcp_arguments.RunResultArguments, progress: Progress) -> dict[str, Any]:
        return await self._follow(args.workflow_id, progress, wait_s=args.wait_s)

    async def _start(self, workflow_type: str, params: BaseModel | dict[str, Any]) -> Any:
        client = await self._connection.client()
        return await api.start_workflow(
            client, workflow_type, params, task_queue=self._settings.temporal_task_queue
        )

    async def _follow(self, workflow_id: str, progress: Progress, *, wait_s: float | None) -> dict[str, Any]:
        """Report the run's steps as progress until it ends (its result) or `wait_s` passes (where it
        stands). A closed run answers at once."""
        client = await self._connection.client()
        _, execution = await api.describe_run(client, workflow_id)
        if execution == WorkflowExecutionStatus.RUNNING:
            reported = 0
            with anyio.move_on_after(wait_s) as waiting:
                async for event in watch(client, workflow_id):
                    reported += 1
                    await progress(reported, _event_text(event))
            if waiting.cancelled_caught:
                return {**await self.run_status(_ids(workflow_id)), "done": False}
        return await self._ended(client, workflow_id)

    async def _ended(self, client: Client, workflow_id: str) -> dict[str, Any]:
        workflow_type, execution = await api.describe_run(client, workflow_id)
        if execution not in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED):
            ended = execution.name.lower() if execution is not None else "unknown"
            raise api.StarterError(f"{workflow_id}: the run ended {ended}")
        # A failed run raises StarterError with the failure's message.
        result = await api.get_result(client, workflow_id)
        return {
            "workflow_id": workflow_id,
            "workflow_type": workflow_type,
            "done": True,
            "execution_status": "completed",
            "result": jsonable(result),
        }

    # --- reading runs ----------------------------------------------------------------------------

    async def run_status(self, args: mcp_arguments.RunStatusArguments) -> dict[str, Any]:
        workflow_id: str = args.workflow_id
        client = await self._connection.client()
        workflow_type, execution = await api.describe_run(client, workflow_id)
        status = await _status(client, workflow_id)
        return {
            "workflow_id": workflow_id,
            "workflow_type": workflow_type,
            "execution_status": execution.name.lower() if execution is not None else "unknown",
            "status": jsonable(status),
        }

    async def pending_approvals(self) -> dict[str, Any]:
        """The runs waiting for a decision, each with its whole status (the action in full)."""
        client = await self._connection.client()
        waiting = []
        async for execution in client.list_workflows(PENDING_QUERY, limit=MAX_PENDING_LISTED):
            try:
                status = await _status(client, execution.id)
            except api.StarterError:
                continue  # closed or unqueryable since the visibility record was written
            if status.pending_approval is None:
                continue  # decided since
            waiting.append(
                {
                    "workflow_id": execution.id,
                    "workflow_type": execution.workflow_type,
                    "status": jsonable(status),
                }
            )
        return {"runs": waiting}

    # --- sessions --------------------------------------------------------------------------------

    async def session_send(self, args: mcp_arguments.SessionSendArguments) -> dict[str, Any]:
        client = await self._connection.client()
        sent = await api.send_message(client, args.workflow_id, args.text, args.mode)
        return {"workflow_id": args.workflow_id, **jsonable(sent)}

    async def session_transcript(self, args: mcp_arguments.SessionTranscriptArguments) -> dict[str, Any]:
        client = await self._connection.client()
        page = await api.get_transcript(client, args.workflow_id, args.after)
        return {"workflow_id": args.workflow_id, **jsonable(page)}

    # --- decisions (only with an approver's key) ------------------------------------------------

    async def decide(self, args: mcp_arguments.DecideArguments, *, approved: bool) -> dict[str, Any]:
        """Sign the decision with the approver's key, as `starter approve --key` does; refused for a
        run whose workers do not check signatures (there a decision would prove nothing)."""
        if self.approver is None:
            raise api.StarterError("this MCP server decides nothing (no MCP_SERVER_APPROVER_KEY_FILE)")
        workflow_id: str = args.workflow_id
        client = await self._connection.client()
        status = await _status(client, workflow_id)
        if not status.decisions_authenticated:
            raise api.StarterError(
                f"{workflow_id}: its workers do not check signed decisions (no APPROVER_KEYS_FILE), so this"
                " server does not decide it: decide in the inbox or with python -m starter approve"
            )
        recorded = await api.approve(
            client,
            workflow_id,
            self.approver.name,
            args.comment,
            approved=approved,
            action_hash=args.action_hash,
            key=self.approver.key_file,
            for_run=bool(getattr(args, "for_run", False)),
        )
        return {"workflow_id": workflow_id, "decision": jsonable(recorded)}

    async def approve(self, args: mcp_arguments.ApproveArguments) -> dict[str, Any]:
        return await self.decide(args, approved=True)

    async def reject(self, args: mcp_arguments.DecideArguments) -> dict[str, Any]:
        return await self.decide(args, approved=False)


def _ids(workflow_id: str) -> Any:
    return mcp_arguments.RunStatusArguments(workflow_id=workflow_id)


async def _status(client: Client, workflow_id: str) -> Any:
    try:
        return await asyncio.wait_for(api.get_status(client, workflow_id), STATUS_WAIT_S)
    except TimeoutError:
        raise api.StarterError(
            f"{workflow_id}: no status within {STATUS_WAIT_S:g} s (is a worker running?)"
        ) from None


def _event_text(event: ProgressEvent) -> str:
    return render.event_line(event).strip()
