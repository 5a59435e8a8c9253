"""A forked session's messages: the `send` Updates its source accepted for the turns up to the one
that holds the fork point, read from the source chain's history (never from a client), in order.
The fork takes them as queued messages, so its turns are the source's and the steps before N are
reused like any fork's. A steer or interrupt in those turns joined or cut a turn at a moment a fork
cannot reproduce: such a fork is refused (`UnplaceableMessage`).
"""

from __future__ import annotations

import re

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from common.contracts.runs import StepRecord
from common.contracts.sessions import SendRequest, SendResult

__all__ = ["SEND_UPDATE", "Sent", "UnplaceableMessage", "fork_turn", "sent_messages", "session_messages"]

SEND_UPDATE = "send"
_SESSION_STEP = re.compile(r"turn (\d+) step \d+")  # SessionWorkflow's model step names

Sent = tuple[SendRequest, SendResult]  # a `send` the source accepted, and what it answered


class UnplaceableMessage(Exception):
    """A message before the fork point that a fork cannot give the session as it was given."""


def fork_turn(steps: list[StepRecord], step: int) -> int:
    """The session turn that holds step `step` (the last turn for a step after the source's last):
    the turn of the latest model step at or before it; 0 when there is none (not a session)."""
    for record in reversed(steps[:step]):
        if record.kind == "llm" and (found := _SESSION_STEP.fullmatch(record.step)):
            return int(found[1])
    return 0


def session_messages(sent: list[Sent], steps: list[StepRecord], step: int) -> list[SendRequest]:
    """The source's messages of turns 1..`fork_turn`, in the order it took them, as queued."""
    turn = fork_turn(steps, step)
    if turn == 0:
        return []
    messages: list[SendRequest] = []
    for request, result in sent:
        if result.turn > turn:
            continue
        if result.taken_as != "queue":
            raise UnplaceableMessage(
                f"message {result.message_id} {request.text[:80]!r} was a {result.taken_as} in turn "
                f"{result.turn}, before the fork point (turn {turn}); a fork of a session places only "
                "queued messages"
            )
        messages.append(SendRequest(text=request.text, sender=request.sender))
    return messages


async def sent_messages(histories: list[WorkflowHistory], converter: DataConverter) -> list[Sent]:
    """Every `send` the chain accepted and answered, decoded, in history order."""
    sent: list[Sent] = []
    for history in histories:
        accepted: dict[str, SendRequest] = {}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                if request.input.name == SEND_UPDATE and request.input.args.payloads:
                    value = (await converter.decode(list(request.input.args.payloads)))[0]
                    accepted[request.meta.update_id] = SendRequest.model_validate(value)
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
                completed = event.workflow_execution_update_completed_event_attributes
                taken = accepted.pop(completed.meta.update_id, None)
                if taken is not None and completed.outcome.success.payloads:
                    value = (await converter.decode(list(completed.outcome.success.payloads)))[0]
                    sent.append((taken, SendResult.model_validate(value)))
    return sent
