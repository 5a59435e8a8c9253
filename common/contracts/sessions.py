"""What a session (`SessionWorkflow`: a durable conversation) takes and gives: its input, the `send`
and `close` Updates, the `transcript` Query and the result. Clients of every language read these as
plain JSON."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from common.contracts.lean_model import LeanModel
from common.contracts.llm import Message
from common.contracts.runs import DAY_S, KitInput, NonBlank, RunCarry, StepRecord, UsageTotals

__all__ = [
    "MAX_MESSAGE_BYTES",
    "TURNS_TOPIC",
    "CloseRequest",
    "SendMode",
    "SendRequest",
    "SendResult",
    "SessionCarry",
    "SessionConversation",
    "SessionInput",
    "SessionResult",
    "TranscriptEntry",
    "TranscriptPage",
    "TranscriptQuery",
    "TurnEvent",
]

# One message's text: what a person types, or pastes, into a conversation.
MAX_MESSAGE_BYTES = 32 * 1024
# The session's Workflow Stream topic of `TurnEvent`s (reply text goes on the `reply` topic).
TURNS_TOPIC = "turns"

SendMode = Literal["queue", "steer", "interrupt"]


class SessionInput(KitInput):
    """A session's input: the agent's tools (as `AgentWorkflow`'s: MCP tools by `server__tool`),
    its instructions, the cap of one turn's model steps, how long it waits for a message."""

    # None: every built-in read-only tool, plus the side-effect tools when someone can approve them.
    tools: list[str] | None = None
    system: str | None = Field(default=None, max_length=20_000)
    max_turn_iterations: int = Field(default=8, ge=1, le=100)
    # No message for this long: the session closes itself (7 days).
    idle_timeout_s: float = Field(default=7 * DAY_S, gt=0, le=365 * DAY_S)
    first_message: NonBlank | None = Field(default=None, max_length=MAX_MESSAGE_BYTES)
    # Continue-as-new after this many turns in one run (tests, tuning); the history-size thresholds
    # apply regardless.
    continue_as_new_after_turns: int | None = Field(default=None, ge=1)
    # Filled by the workflow itself when it continues-as-new; clients leave it empty.
    carried: SessionCarry | None = None


class SendRequest(BaseModel):
    """Update `send`: a message into the conversation."""

    text: str
    mode: SendMode = "queue"
    sender: str | None = Field(default=None, max_length=200)


class SendResult(BaseModel):
    """What `send` returns as soon as the message is recorded (not when it is answered)."""

    message_id: int
    turn: int  # the turn it belongs to
    taken_as: SendMode  # "steer" with no turn running is taken as "queue"


class CloseRequest(BaseModel):
    """Update `close`: the session ends after the running turn."""

    reason: str = Field(default="", max_length=2000)


class TranscriptQuery(BaseModel):
    """Query `transcript`: the entries after entry `after` (0: from the start)."""

    after: int = Field(default=0, ge=0)


class TranscriptEntry(LeanModel):
    """One message of the conversation, as people read it."""

    id: int
    turn: int
    role: Literal["user", "assistant", "tool"]
    text: str = ""
    sender: str | None = None
    mode: SendMode | None = None  # user messages: how it was taken
    # assistant: the calls it asked for ({"id", "name", "input"}); tool: their results.
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    tool_results: list[dict[str, Any]] = Field(default_factory=list)
    turn_outcome: str | None = None  # the turn's last entry: "answered", "interrupted", "max_iterations", ...


class TranscriptPage(BaseModel):
    entries: list[TranscriptEntry] = Field(default_factory=list)
    last_id: int = 0  # the newest entry's id: the next query's `after`
    phase: str = "idle"
    turn: int = 0  # the turn running, or the last one


class TurnEvent(BaseModel):
    """What the session's Workflow Stream carries besides reply text (topic `turns`)."""

    kind: Literal[
        "turn_started",
        "turn_ended",
        "tool_call_started",
        "tool_call_ended",
        "approval_requested",
        "approval_decided",
        "message",
    ]
    turn: int
    detail: str = ""
    message_id: int | None = None
    outcome: str | None = None  # turn_ended
    usage: UsageTotals | None = None  # turn_ended: the turn's usage
    cost_usd: float | None = None  # turn_ended: the turn's cost


class SessionConversation(BaseModel):
    """A session's conversation: what continue-as-new hands over through the payload store."""

    messages: list[Message] = Field(default_factory=list)  # the model's conversation
    transcript: list[TranscriptEntry] = Field(default_factory=list)
    queued: list[TranscriptEntry] = Field(default_factory=list)  # messages waiting for their turn


class SessionCarry(RunCarry, SessionConversation):
    """What a session hands to its next run when it continues-as-new: the conversation in the
    payload store (`conversation`: its digest, covered by the seal), or inline without a store."""

    conversation: str | None = None
    turn: int = 0
    closing: str | None = None
    mcp_tools: list[dict[str, Any]] | None = None


class SessionResult(BaseModel):
    turns: int
    last_reply: str
    outcome: Literal["closed", "idle_timeout"]
    reason: str = ""
    steps: list[StepRecord] = Field(default_factory=list)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0
    tenant: str = "default"


SessionInput.model_rebuild()
