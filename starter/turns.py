"""Following a session's turns from outside: the run's Workflow Stream (topic `turns`) says when
something happened, the `transcript` Query says what. `wait_for_turn` is `say --wait`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.contrib.workflow_streams import WorkflowStreamClient, WorkflowStreamItem
from temporalio.service import RPCError

from common.contracts.sessions import TURNS_TOPIC, TranscriptEntry, TranscriptPage
from starter import api

__all__ = ["TurnReply", "session_events", "stream_offset", "turn_reply", "wait_for_turn"]


class TurnReply(BaseModel):
    """How the turn of one message ended, and what the assistant said in it."""

    message_id: int
    turn: int
    outcome: str  # "answered", "interrupted", "max_iterations", "failed", "budget_exhausted"
    replies: list[TranscriptEntry] = Field(default_factory=list)  # the turn's assistant entries


async def stream_offset(client: Client, workflow_id: str) -> int:
    """Where the run's Workflow Stream stands now: subscribe from here to get only what comes next."""
    try:
        return await WorkflowStreamClient.create(client, workflow_id).get_offset()
    except RPCError as error:
        raise api.StarterError(f"{workflow_id}: {error.message}") from None


async def session_events(
    client: Client, workflow_id: str, topics: list[str], from_offset: int
) -> AsyncIterator[WorkflowStreamItem[object]]:
    """The session's stream items of `topics` from `from_offset` on, until the session ends (the
    subscription follows continue-as-new, and drains the last items after the run closes)."""
    stream = WorkflowStreamClient.create(client, workflow_id)
    async for item in stream.subscribe(topics, from_offset=from_offset):
        yield item


def turn_reply(entries: list[TranscriptEntry], message_id: int) -> TurnReply | None:
    """The reply to message `message_id` if its turn has ended in these entries (they hold the
    message and what followed it), else None. The message's turn is read here, not taken from
    `send`: a late steer or an interrupt moves messages to other turns."""
    message = next((entry for entry in entries if entry.id == message_id), None)
    if message is None:
        return None
    last = next((e for e in entries if e.turn == message.turn and e.turn_outcome), None)
    if last is None or last.turn_outcome is None:
        return None
    replies = [e for e in entries if e.turn == message.turn and e.role == "assistant"]
    return TurnReply(message_id=message_id, turn=message.turn, outcome=last.turn_outcome, replies=replies)


async def wait_for_turn(client: Client, workflow_id: str, message_id: int) -> TurnReply:
    """Wait until the turn of message `message_id` has ended; its outcome and the assistant's
    entries of that turn. `StarterError` if the session ends first (closed with it still queued)."""
    offset = await stream_offset(client, workflow_id)  # before reading: nothing falls in between
    reply = await _ended(client, workflow_id, message_id)
    if reply is not None:
        return reply
    async for item in session_events(client, workflow_id, [TURNS_TOPIC], offset):
        if isinstance(item.data, dict) and item.data.get("kind") == "turn_ended":
            reply = await _ended(client, workflow_id, message_id)
            if reply is not None:
                return reply
    reply = await _ended(client, workflow_id, message_id)
    if reply is None:
        raise api.StarterError(f"{workflow_id}: the session ended before message {message_id} was answered")
    return reply


async def _ended(client: Client, workflow_id: str, message_id: int) -> TurnReply | None:
    page: TranscriptPage = await api.get_transcript(client, workflow_id, after=message_id - 1)
    if not any(entry.id == message_id for entry in page.entries):
        raise api.StarterError(f"{workflow_id}: no message {message_id} in the session's transcript")
    reply = turn_reply(page.entries, message_id)
    if reply is not None and _begins_before(page.entries, message_id):
        # A steer joined a turn that had begun: its earlier replies are before the message.
        reply = turn_reply((await api.get_transcript(client, workflow_id)).entries, message_id)
    return reply


def _begins_before(entries: list[TranscriptEntry], message_id: int) -> bool:
    message = next(entry for entry in entries if entry.id == message_id)
    return message.mode == "steer"
