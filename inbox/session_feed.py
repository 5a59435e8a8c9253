"""A session followed live, as events for its page: new transcript entries, the reply being written,
a change of phase or of the pending approval, and the end of the session.

Read by Query only (see inbox/session_runs.py for why): every `interval_s` the session's stream is
read from the last offset; a turn event (or the first text of a new model step) is the cue to read
the transcript after the last entry shown and the status. Nothing happening costs one Query per
interval; every `quiet_s` the feed also checks the run is still open and yields `Quiet` (a
keep-alive for the connection).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from pydantic import ValidationError
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from common.contracts.llm import REPLY_TOPIC, ReplyChunk
from common.contracts.sessions import TURNS_TOPIC, TranscriptEntry
from inbox.session_runs import SessionRuns
from workflows.models import PendingApproval, WorkflowStatus

__all__ = [
    "Ended",
    "FeedEvent",
    "NewEntries",
    "Position",
    "Quiet",
    "ReplyText",
    "StatusChanged",
    "follow",
]

INTERVAL_S = 0.5
QUIET_S = 10.0


@dataclass
class Position:
    """Where the page is: the last transcript entry it shows and the stream offset read up to."""

    after: int = 0
    offset: int = 0

    def token(self) -> str:
        return f"{self.after}.{self.offset}"

    @classmethod
    def parse(cls, token: str) -> Position | None:
        after, _, offset = token.partition(".")
        if not (after.isdigit() and offset.isdigit()):
            return None
        return cls(int(after), int(offset))


@dataclass(frozen=True)
class NewEntries:
    entries: list[TranscriptEntry]


@dataclass(frozen=True)
class ReplyText:
    """A piece of the reply being written (a `ReplyChunk`): a step's text is its pieces in order;
    a new `attempt` of the same step starts the text again."""

    step: str
    attempt: int
    text: str


@dataclass(frozen=True)
class StatusChanged:
    phase: str
    turn: int
    pending: PendingApproval | None


@dataclass(frozen=True)
class Quiet:
    pass


@dataclass(frozen=True)
class Ended:
    pass


FeedEvent = NewEntries | ReplyText | StatusChanged | Quiet | Ended


@dataclass
class _Seen:
    status_key: tuple[str, int, str | None] | None = None
    settled_steps: set[str] = field(default_factory=set)  # model steps that have finished
    reply_steps: set[str] = field(default_factory=set)
    turn_last_entry: dict[int, int] = field(default_factory=dict)  # of the entries seen


async def follow(
    runs: SessionRuns,
    workflow_id: str,
    position: Position,
    *,
    interval_s: float = INTERVAL_S,
    quiet_s: float = QUIET_S,
) -> AsyncIterator[FeedEvent]:
    """Events of the session from `position` on (updated as they are yielded) until it ends."""
    seen = _Seen()
    refresh = True  # the first round reads everything after `position`
    last_check = time.monotonic()
    while True:
        try:
            read = await runs.read_stream(workflow_id, [TURNS_TOPIC, REPLY_TOPIC], position.offset)
            position.offset = read.next_offset
            chunks = [_reply(item.data) for item in read.items if item.topic == REPLY_TOPIC]
            replies = [chunk for chunk in chunks if chunk is not None]
            new_step = any(chunk.step not in seen.reply_steps for chunk in replies)
            ended = [_ended_turn(item.data) for item in read.items if item.topic == TURNS_TOPIC]
            if refresh or new_step or any(item.topic == TURNS_TOPIC for item in read.items):
                refresh = False
                since = _reread_from(position.after, [turn for turn in ended if turn is not None], seen)
                async for event in _refresh(runs, workflow_id, position, seen, since):
                    yield event
            for chunk in replies:
                seen.reply_steps.add(chunk.step)
                if chunk.step not in seen.settled_steps:  # else its entry is on the page already
                    yield chunk
        except (RPCError, WorkflowQueryFailedError):
            # A closed run whose history no worker can replay, or a worker away: check below.
            last_check = 0.0
        if seen.status_key is not None and seen.status_key[0] == "closed":
            last_check = 0.0  # the session is ending: see whether it has, each round
        if time.monotonic() - last_check >= quiet_s:
            last_check = time.monotonic()
            if not await _still_open(runs, workflow_id):
                async for event in _last_words(runs, workflow_id, position, seen):
                    yield event
                yield Ended()
                return
            yield Quiet()
        await asyncio.sleep(interval_s)  # the next read of the stream (a Query: nothing to wait on)


def _reread_from(after: int, ended_turns: list[int], seen: _Seen) -> int:
    """Where to read the transcript from: after the last entry shown, or earlier when a turn ended
    whose last entry was shown already (its outcome is set on it when the turn ends, e.g. on the
    user's message of an interrupted turn). A turn the feed never saw: from the start, once."""
    since = after
    for turn in ended_turns:
        last = seen.turn_last_entry.get(turn)
        since = min(since, last - 1 if last is not None else 0)
    return since


async def _refresh(
    runs: SessionRuns, workflow_id: str, position: Position, seen: _Seen, since: int | None = None
) -> AsyncIterator[FeedEvent]:
    page = await runs.transcript(workflow_id, position.after if since is None else since)
    status = await runs.status(workflow_id)
    seen.settled_steps = {step.step for step in status.completed_steps}
    if page.entries:
        position.after = max(position.after, *(entry.id for entry in page.entries))
        for entry in page.entries:
            seen.turn_last_entry[entry.turn] = max(entry.id, seen.turn_last_entry.get(entry.turn, 0))
        yield NewEntries(page.entries)  # an entry shown already comes again changed: the page replaces it
    changed = _status_changed(status, seen)
    if changed is not None:
        yield changed


def _status_changed(status: WorkflowStatus, seen: _Seen) -> StatusChanged | None:
    pending = status.pending_approval
    key = (status.phase, status.turn or 0, pending.action_hash if pending else None)
    if key == seen.status_key:
        return None
    seen.status_key = key
    return StatusChanged(phase=status.phase, turn=status.turn or 0, pending=pending)


async def _still_open(runs: SessionRuns, workflow_id: str) -> bool:
    try:
        return await runs.is_open(workflow_id)
    except RPCError:
        return False


async def _last_words(
    runs: SessionRuns, workflow_id: str, position: Position, seen: _Seen
) -> AsyncIterator[FeedEvent]:
    """What the session recorded before it ended, when a worker can still answer for it."""
    try:
        async for event in _refresh(runs, workflow_id, position, seen):
            yield event
    except (RPCError, WorkflowQueryFailedError):
        return


def _ended_turn(data: object) -> int | None:
    """The turn a `turn_ended` event (a `TurnEvent`) ended."""
    if isinstance(data, dict) and data.get("kind") == "turn_ended" and isinstance(data.get("turn"), int):
        turn: int = data["turn"]
        return turn
    return None


def _reply(data: object) -> ReplyText | None:
    try:
        chunk = ReplyChunk.model_validate(data)
    except ValidationError:
        return None  # not a reply chunk: nothing to show
    return ReplyText(step=chunk.step, attempt=chunk.attempt, text=chunk.text)
