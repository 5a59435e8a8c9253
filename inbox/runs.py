"""What the inbox asks Temporal: runs waiting for approval (a visibility query on the project's
search attributes), one run's status, and the reviewer's decision (the `approve` Update)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import quote

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import TypedSearchAttributes
from temporalio.converter import WorkflowSerializationContext
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from common import search_attributes as sa
from common.run_summary import headline
from workflows.models import ApprovalDecision, ApprovalRecord, ProposedAction, WorkflowStatus

__all__ = [
    "AWAITING_APPROVAL",
    "CHANGED_MESSAGE",
    "DecisionOutcome",
    "PendingRun",
    "RunDetail",
    "RunNotFound",
    "Runs",
    "TemporalRuns",
    "status_name",
]

AWAITING_APPROVAL = "awaiting_approval"
PENDING_QUERY = f'{sa.PHASE.name} = "{AWAITING_APPROVAL}" AND ExecutionStatus = "Running"'
MAX_LISTED = 200
ACTION_CHANGED = "ActionChanged"  # the approval gate's error type for a decision on a stale hash
CHANGED_MESSAGE = (
    "The proposed action changed after this page showed it, so nothing was decided. "
    "Review the action as it is now and decide again."
)


@dataclass(frozen=True)
class PendingRun:
    workflow_id: str
    run_id: str
    workflow_type: str
    goal: str
    action: str
    action_hash: str
    deadline: datetime
    cost_usd: float
    approvers: list[str]
    web_ui_url: str
    # The structured action (targets first, every argument in full); None for runs recorded before
    # workflows filled it, which the page shows as the `action` text.
    proposed: ProposedAction | None = None

    def time_left(self, now: datetime) -> timedelta:
        return self.deadline - now


@dataclass(frozen=True)
class RunDetail:
    workflow_id: str
    run_id: str
    workflow_type: str
    execution_status: str  # "Running", "Completed", ...
    goal: str
    approvers: list[str]
    web_ui_url: str
    status: WorkflowStatus | None  # None when the run no longer answers queries
    status_error: str = ""


@dataclass(frozen=True)
class DecisionOutcome:
    accepted: bool
    message: str
    recorded: ApprovalRecord | None = None


class RunNotFound(Exception):
    pass


class Runs(Protocol):
    """What the web app needs from Temporal (a fake may stand in for it in unit tests)."""

    async def pending(self) -> list[PendingRun]: ...

    async def detail(self, workflow_id: str) -> RunDetail: ...

    async def decide(
        self, workflow_id: str, decision: ApprovalDecision, *, expected_hash: str, update_id: str
    ) -> DecisionOutcome: ...


def _approvers(attributes: TypedSearchAttributes) -> list[str]:
    return list(attributes.get(sa.APPROVERS) or [])


class TemporalRuns:
    def __init__(self, client: Client, *, web_ui: str) -> None:
        self._client = client
        self._web_ui = web_ui.rstrip("/")

    def web_ui_url(self, workflow_id: str, run_id: str) -> str:
        namespace = quote(self._client.namespace, safe="")
        workflow = quote(workflow_id, safe="")
        return f"{self._web_ui}/namespaces/{namespace}/workflows/{workflow}/{run_id}/history"

    async def pending(self) -> list[PendingRun]:
        executions = [e async for e in self._client.list_workflows(PENDING_QUERY, limit=MAX_LISTED)]
        rows = await asyncio.gather(*(self._pending_row(e) for e in executions))
        listed = [row for row in rows if row is not None]
        listed.sort(key=lambda row: row.deadline, reverse=True)  # newest deadline first
        return listed

    async def _pending_row(self, execution: WorkflowExecution) -> PendingRun | None:
        handle = self._client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            status = await handle.query("status", result_type=WorkflowStatus)
        except (RPCError, FailureError):
            return None  # closed or unqueryable since the visibility record was written
        pending = status.pending_approval
        if pending is None:
            return None  # decided since the visibility record was written
        goal = headline(await execution.memo())  # the starter's memo holds the input
        return PendingRun(
            workflow_id=execution.id,
            run_id=execution.run_id,
            workflow_type=execution.workflow_type,
            goal=goal if goal is not None else await self._goal_from_input(execution.id, execution.run_id),
            action=pending.action,
            action_hash=pending.action_hash,
            deadline=pending.deadline,
            cost_usd=status.cost_usd,
            approvers=_approvers(execution.typed_search_attributes) or list(pending.approvers),
            web_ui_url=self.web_ui_url(execution.id, execution.run_id),
            proposed=pending.proposed,
        )

    async def _goal_from_input(self, workflow_id: str, run_id: str) -> str:
        """The goal or topic in full, from the input in the run's first history event (decoded by
        the client's converter, so payload encryption works too)."""
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        async for event in handle.fetch_history_events(page_size=1):
            payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
            converter = self._client.data_converter.with_context(
                WorkflowSerializationContext(namespace=self._client.namespace, workflow_id=workflow_id)
            )
            values = await converter.decode(payloads) if payloads else []
            return headline(values[0] if values else None) or ""
        return ""

    async def detail(self, workflow_id: str) -> RunDetail:
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFound(workflow_id) from None
            raise
        status: WorkflowStatus | None = None
        status_error = ""
        try:
            status = await handle.query("status", result_type=WorkflowStatus)
        except (RPCError, FailureError) as error:
            status_error = str(error)
        pending = status.pending_approval if status else None
        return RunDetail(
            workflow_id=workflow_id,
            run_id=description.run_id,
            workflow_type=description.workflow_type,
            execution_status=status_name(description.status),
            goal=await self._goal_from_input(workflow_id, description.run_id),
            approvers=_approvers(description.typed_search_attributes)
            or (list(pending.approvers) if pending else []),
            web_ui_url=self.web_ui_url(workflow_id, description.run_id),
            status=status,
            status_error=status_error,
        )

    async def decide(
        self, workflow_id: str, decision: ApprovalDecision, *, expected_hash: str, update_id: str
    ) -> DecisionOutcome:
        """Send the `approve` Update bound to the action the reviewer saw: `expected_hash` is always
        sent, so the workflow refuses the decision if the proposal changed since. The workflow's
        validator has the last word; its refusal comes back in words."""
        if not expected_hash:
            raise ValueError("a decision is bound to the hash of the action the reviewer saw")
        handle = self._client.get_workflow_handle(workflow_id)
        bound = decision.model_copy(update={"action_hash": expected_hash})
        try:
            recorded = await handle.execute_update("approve", bound, id=update_id, result_type=ApprovalRecord)
        except WorkflowUpdateFailedError as error:
            if isinstance(error.cause, ApplicationError) and error.cause.type == ACTION_CHANGED:
                return DecisionOutcome(False, CHANGED_MESSAGE)
            return DecisionOutcome(False, f"The workflow refused the decision: {_reason(error.cause)}")
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return DecisionOutcome(False, "The run has ended or does not exist; nothing was decided.")
            return DecisionOutcome(False, f"Temporal refused the decision: {error.message}")
        verb = "Approved" if recorded.approved else "Rejected"
        when = recorded.decided_at.strftime("%H:%M:%S UTC")
        return DecisionOutcome(
            True, f"{verb} as {recorded.approver}; the workflow recorded the decision at {when}.", recorded
        )


def _reason(error: BaseException) -> str:
    if isinstance(error, ApplicationError):
        return error.message
    return str(error) or type(error).__name__


def status_name(status: WorkflowExecutionStatus | None) -> str:
    return status.name.replace("_", " ").title() if status is not None else "Unknown"
