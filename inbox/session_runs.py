"""What the inbox asks Temporal about sessions (`SessionWorkflow` runs): the list (a visibility
query), a session's transcript and status, its Workflow Stream read by Query, and the `send` Update.

The live feed reads the stream with the `__temporal_workflow_stream_poll` *Query*, never the
long-poll Update a `WorkflowStreamClient.subscribe` uses: a browser tab is then no Update in
flight. Temporal allows 10 in-flight Updates per workflow; ten abandoned subscriptions (closed tabs
of an idle session) would make `send` and `approve` fail with "limit on number of concurrent
in-flight updates has been reached", and every poll Update would grow the session's history.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.contrib.workflow_streams import PollInput, PollResult
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from common import search_attributes as sa
from common.contracts.sessions import (
    SendRequest,
    SendResult,
    TranscriptPage,
    TranscriptQuery,
)
from inbox.runs import status_name
from workflows.models import WorkflowStatus

__all__ = [
    "SESSION_WORKFLOW",
    "SendOutcome",
    "SessionRuns",
    "SessionSummary",
    "StreamItem",
    "StreamRead",
    "TemporalSessionRuns",
]

SESSION_WORKFLOW = "SessionWorkflow"
SESSIONS_QUERY = f'WorkflowType = "{SESSION_WORKFLOW}"'
MAX_LISTED = 200
_POLL_QUERY = "__temporal_workflow_stream_poll"
_OFFSET_QUERY = "__temporal_workflow_stream_offset"


@dataclass(frozen=True)
class SessionSummary:
    workflow_id: str
    execution_status: str  # "Running", "Completed", ...
    open: bool
    phase: str  # the AiPhase search attribute ("" before the first upsert)
    started: datetime | None
    approvers: list[str]


@dataclass(frozen=True)
class SendOutcome:
    accepted: bool
    message: str
    result: SendResult | None = None


@dataclass(frozen=True)
class StreamItem:
    topic: str
    data: Any  # the JSON value published (a dict for pydantic models)


@dataclass(frozen=True)
class StreamRead:
    items: list[StreamItem]
    next_offset: int


class SessionRuns(Protocol):
    """What the session pages need from Temporal."""

    async def list_sessions(self) -> list[SessionSummary]: ...

    async def transcript(self, workflow_id: str, after: int) -> TranscriptPage: ...

    async def status(self, workflow_id: str) -> WorkflowStatus: ...

    async def stream_offset(self, workflow_id: str) -> int: ...

    async def read_stream(self, workflow_id: str, topics: list[str], offset: int) -> StreamRead: ...

    async def is_open(self, workflow_id: str) -> bool: ...

    async def send(self, workflow_id: str, request: SendRequest, *, update_id: str) -> SendOutcome: ...


class TemporalSessionRuns:
    def __init__(self, client: Client) -> None:
        self._client = client

    async def list_sessions(self) -> list[SessionSummary]:
        """Every session the namespace lists, open ones first, then the newest first."""
        rows = []
        async for execution in self._client.list_workflows(SESSIONS_QUERY, limit=MAX_LISTED):
            attributes = execution.typed_search_attributes
            rows.append(
                SessionSummary(
                    workflow_id=execution.id,
                    execution_status=status_name(execution.status),
                    open=execution.status == WorkflowExecutionStatus.RUNNING,
                    phase=attributes.get(sa.PHASE) or "",
                    started=execution.start_time,
                    approvers=list(attributes.get(sa.APPROVERS) or []),
                )
            )
        rows.sort(key=lambda row: row.started.timestamp() if row.started else 0.0, reverse=True)
        rows.sort(key=lambda row: not row.open)  # stable: open first, each group newest first
        return rows

    async def transcript(self, workflow_id: str, after: int) -> TranscriptPage:
        return await self._client.get_workflow_handle(workflow_id).query(
            "transcript", TranscriptQuery(after=after), result_type=TranscriptPage
        )

    async def status(self, workflow_id: str) -> WorkflowStatus:
        return await self._client.get_workflow_handle(workflow_id).query("status", result_type=WorkflowStatus)

    async def stream_offset(self, workflow_id: str) -> int:
        return await self._client.get_workflow_handle(workflow_id).query(_OFFSET_QUERY, result_type=int)

    async def read_stream(self, workflow_id: str, topics: list[str], offset: int) -> StreamRead:
        """The stream's items from `offset` on, at once (the Query form of the poll: it waits for
        nothing and adds nothing to the history)."""
        result = await self._client.get_workflow_handle(workflow_id).query(
            _POLL_QUERY, PollInput(topics=topics, from_offset=offset), result_type=PollResult
        )
        converter = self._client.data_converter.payload_converter
        items = [
            StreamItem(topic=item.topic, data=converter.from_payload(_wire_payload(item.data)))
            for item in result.items
        ]
        return StreamRead(items=items, next_offset=result.next_offset)

    async def is_open(self, workflow_id: str) -> bool:
        description = await self._client.get_workflow_handle(workflow_id).describe()
        return description.status == WorkflowExecutionStatus.RUNNING

    async def send(self, workflow_id: str, request: SendRequest, *, update_id: str) -> SendOutcome:
        """The `send` Update; the session's validator has the last word, and its refusal comes back
        in its own words."""
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            result = await handle.execute_update("send", request, id=update_id, result_type=SendResult)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
            return SendOutcome(False, f"The session refused the message: {reason}")
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return SendOutcome(False, "The session has ended; nothing was sent.")
            return SendOutcome(False, f"Temporal refused the message: {error.message}")
        return SendOutcome(True, f"Sent as message {result.message_id} ({result.taken_as}).", result)


def _wire_payload(data: str) -> Payload:
    """A stream item's wire form: base64 of the serialized Payload (the stream's protocol)."""
    payload = Payload()
    payload.ParseFromString(base64.b64decode(data))
    return payload
