"""SessionWorkflow: a durable conversation people talk to for days, on the kit.

Messages arrive with the `send` Update at any time, and return as soon as they are recorded:

- `queue`: the message is a turn of its own, after the turns before it, in order;
- `steer`: the message joins the running turn, and the model's next step in it sees it (no turn
  running: as `queue`);
- `interrupt`: the running turn stops now. An in-flight model call is cancelled (what it used still
  counts), tool calls not started do not start, a side effect already running finishes, a pending
  approval is withdrawn and recorded so; the turn ends `interrupted` and the message starts the next.

A turn is an agent loop (`RunContext.agent_turn`'s parts) of at most `max_turn_iterations` model
steps. Between turns the session is `idle`; no message for `idle_timeout_s` closes it, as does the
`close` Update (after the running turn). The `transcript` Query reads the conversation; the run's
Workflow Stream carries turn events (topic `turns`) and, while the model writes, its reply (topic
`reply`). Long sessions continue-as-new between turns, carrying the conversation, sealed.

A model call the tenant's budget refuses (TENANT_BUDGETS_FILE) ends the turn with outcome
`tenant_budget_exhausted`, the reason in the transcript and `status.stopped_because`; the session
stays open, and the next message tries again (the operator may have raised the limit, or the day
turned).
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.kit import (
        MAX_MESSAGE_BYTES,
        TURNS_TOPIC,
        CloseRequest,
        KitWorkflow,
        LLMRequest,
        LLMResponse,
        McpToolInfo,
        Message,
        RunContext,
        SendRequest,
        SendResult,
        SessionCarry,
        SessionConversation,
        SessionInput,
        SessionResult,
        TextBlock,
        ToolSpec,
        TranscriptEntry,
        TranscriptPage,
        TranscriptQuery,
        TurnEvent,
        UsageTotals,
        invalid_input,
        offer_run_tools,
        patched_since,
    )

__all__ = ["SESSION_SYSTEM", "SessionWorkflow"]

# The newest stream items (reply chunks, turn events) a session hands to its next run.
STREAM_ITEMS_KEPT = 1000
# workflow.patched id: one idle timer per idle timeout, not one started and cancelled every turn.
IDLE_CLOCK = "session-idle-clock"

SESSION_SYSTEM = (
    "You are a helpful assistant in a conversation that may go on for days. Use tools when they help; "
    "several independent calls may go in one turn. Answer the latest message; earlier ones are context."
)


@workflow.defn(name="SessionWorkflow")
class SessionWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: SessionInput) -> None:
        carried = params.carried
        self.ctx = RunContext(params, carried=carried, phase="idle")
        self._params = params
        # The last turn number given to a message, and the turn that is running (0: none).
        self._carried_turn = carried.turn if carried else 0
        self._assigned = self._carried_turn
        self._running = 0
        self._last_id = 0
        self._messages: list[Message] = []
        self._transcript: list[TranscriptEntry] = []
        self._queued: deque[TranscriptEntry] = deque()
        self._restore(carried or SessionConversation())
        self._closing: str | None = carried.closing if carried else None
        self._mcp_tools: list[McpToolInfo] | None = (
            [McpToolInfo.model_validate(info) for info in carried.mcp_tools]
            if carried and carried.mcp_tools is not None
            else None
        )
        self._steered: list[TranscriptEntry] = []  # for the running turn's next model step
        self._interrupting: TranscriptEntry | None = None
        self._tool_specs: list[ToolSpec] = []
        self._turns_this_run = 0
        # The idle clock (IDLE_CLOCK): when the session last went idle, whether it is idle now, and
        # whether it has been idle for the whole timeout.
        self._idle_since = workflow.now()
        self._idle = False
        self._idle_expired = False
        self._idle_timer: asyncio.Task[None] | None = None
        self._events = self.ctx.stream.topic(TURNS_TOPIC, type=TurnEvent)
        self.ctx.status.turn = carried.turn if carried else 0
        self.ctx.observe(self._on_tool_event)

    # -- the contract: Updates `send` and `close`, Query `transcript` ------------------------------

    @workflow.update(name="send")
    def send(self, request: SendRequest) -> SendResult:
        return self._take(request)

    def _take(self, request: SendRequest) -> SendResult:
        """Records a message as its mode says (see the module docstring)."""
        mode = request.mode if self._running or request.mode == "queue" else "queue"
        entry = TranscriptEntry(
            id=self._next_id(), turn=0, role="user", text=request.text, sender=request.sender, mode=mode
        )
        self._transcript.append(entry)  # ids grow in transcript order: `after` never skips one
        if mode == "steer":
            entry.turn = self._running
            self._steered.append(entry)
        elif mode == "interrupt":
            # It starts the next turn, before those already queued (they move back by one).
            entry.turn = self._running + 1
            for queued in self._queued:
                queued.turn += 1
            self._assigned += 1
            self._queued.appendleft(entry)
            self._interrupting = entry
            self.ctx.interrupt(f"the turn was interrupted by message {entry.id}")
        else:
            self._assigned += 1
            entry.turn = self._assigned
            self._queued.append(entry)
        self._events.publish(TurnEvent(kind="message", turn=entry.turn, message_id=entry.id, detail=mode))
        return SendResult(message_id=entry.id, turn=entry.turn, taken_as=mode)

    @send.validator
    def validate_send(self, request: SendRequest) -> None:
        if self._closing is not None:
            raise invalid_input(f"the session is closed ({self._closing}); start a new one")
        if not request.text.strip():
            raise invalid_input("a message needs text")
        size = len(request.text.encode())
        if size > MAX_MESSAGE_BYTES:
            raise invalid_input(f"the message is {size} bytes; at most {MAX_MESSAGE_BYTES}")

    @workflow.update(name="close")
    def close(self, request: CloseRequest) -> TranscriptPage:
        """The session ends after the running turn; returns where the conversation stands."""
        self._closing = request.reason or "closed by a client"
        return self.transcript(TranscriptQuery(after=self._last_id))

    @close.validator
    def validate_close(self, request: CloseRequest) -> None:
        if self._closing is not None:
            raise invalid_input(f"the session is already closed ({self._closing})")

    @workflow.query(name="transcript")
    def transcript(self, query: TranscriptQuery) -> TranscriptPage:
        entries = [entry for entry in self._transcript if entry.id > query.after]
        return TranscriptPage(
            entries=entries,
            last_id=self._last_id,
            phase=self.ctx.status.phase,
            turn=self.ctx.status.turn or 0,
        )

    # -- the run ---------------------------------------------------------------------------------

    @workflow.run
    async def run(self, params: SessionInput) -> SessionResult:
        ctx = self.ctx
        await ctx.accept_carried(params.carried)
        if params.carried is not None and params.carried.conversation is not None:
            self._restore(await ctx.unstash(params.carried.conversation, SessionConversation))
        self._tool_specs, self._mcp_tools = await offer_run_tools(ctx, params.tools, self._mcp_tools)
        if params.carried is None:
            ctx.announce_approvers()
            if params.first_message:
                self._take(SendRequest(text=params.first_message))
            for message in await ctx.fork.messages():  # a fork's: its source's turns up to the fork point
                self._take(message)
        ctx.publish()

        outcome = "closed"
        while self._closing is None:
            if not self._queued:
                ctx.set_phase("idle")
                if not await self._message_or_close(params.idle_timeout_s):
                    self._closing, outcome = f"no message for {params.idle_timeout_s:.0f} s", "idle_timeout"
                    break
                continue
            await self._turn(self._queued.popleft())
            self._turns_this_run += 1
            every = params.continue_as_new_after_turns
            due = ctx.should_continue_as_new() or (every is not None and self._turns_this_run >= every)
            if due and self._closing is None:
                await self._continue_as_new()  # between turns: nothing is cut off

        await ctx.finish(outcome, phase="closed")
        last_reply = next(
            (e.text for e in reversed(self._transcript) if e.role == "assistant" and e.text), ""
        )
        return SessionResult(
            turns=ctx.status.turn or 0,
            last_reply=last_reply,
            outcome="idle_timeout" if outcome == "idle_timeout" else "closed",
            reason=self._closing or "",
            tenant=params.tenant,
            **ctx.totals(),
        )

    async def _message_or_close(self, timeout_s: float) -> bool:
        if patched_since(IDLE_CLOCK):
            return await self._message_or_close_by_clock(timeout_s)
        try:
            await workflow.wait_condition(
                lambda: bool(self._queued) or self._closing is not None, timeout=timedelta(seconds=timeout_s)
            )
        except TimeoutError:
            return False
        return True

    async def _message_or_close_by_clock(self, timeout_s: float) -> bool:
        """As the timeout wait, with the idle clock's one timer: a message that arrives cancels no
        timer and the next idle spell starts none (two commands and events fewer per turn)."""
        self._idle, self._idle_since = True, workflow.now()
        if self._idle_timer is None or self._idle_timer.done():  # none yet, or it expired as a message came
            self._idle_expired = False
            self._idle_timer = asyncio.ensure_future(self._idle_clock(timedelta(seconds=timeout_s)))
        try:
            await workflow.wait_condition(
                lambda: bool(self._queued) or self._closing is not None or self._idle_expired
            )
        finally:
            self._idle = False
        return bool(self._queued) or self._closing is not None

    async def _idle_clock(self, limit: timedelta) -> None:
        """Sets `_idle_expired` once the session has been idle for `limit`. Its timer runs for the
        timeout from when it was set; when it fires early (turns ran meanwhile) it is set again for
        what is left of the current idle spell, after the running turn."""
        while True:
            await workflow.wait_condition(lambda: self._idle)
            left = self._idle_since + limit - workflow.now()
            if left <= timedelta(0):
                self._idle_expired = True
                return
            await workflow.sleep(left)

    async def _turn(self, first: TranscriptEntry) -> None:
        ctx = self.ctx
        turn = self._running = first.turn
        ctx.status.turn = turn
        ctx.resume()
        ctx.tenant_refusal = ctx.status.stopped_because = None  # each turn asks the tenant's budget anew
        if self._interrupting is first:
            self._interrupting = None
        self._tell_model([TextBlock(text=first.text)])
        steps_before = len(ctx.status.completed_steps)
        self._events.publish(TurnEvent(kind="turn_started", turn=turn, message_id=first.id))

        outcome = "answered"
        for iteration in range(1, self._params.max_turn_iterations + 1):
            if self._interrupting is not None:
                outcome = "interrupted"
                break
            if ctx.budget_spent():
                outcome = "budget_exhausted"
                break
            response = await self._think(turn, iteration)
            if response is None:
                outcome = "interrupted" if self._interrupting is not None else "failed"
                if ctx.tenant_refusal is not None and self._interrupting is None:
                    outcome = "tenant_budget_exhausted"
                break
            self._messages.append(Message(role="assistant", content=response.content))
            calls = response.tool_calls()
            self._record("assistant", turn, text=response.text(), tool_calls=[c.model_dump() for c in calls])
            steered = self._take_steered()
            if not calls:
                if steered and self._interrupting is None:
                    self._tell_model(steered)
                    continue  # the model's next step sees what was said meanwhile
                break
            results = await ctx.call_tools(calls, ctx.next_iteration())
            self._record("tool", turn, tool_results=[r.model_dump() for r in results])
            # Tool results answer the calls; what was said meanwhile follows them in the same message.
            self._tell_model([*results, *steered, *self._take_steered()])
        else:
            outcome = "max_iterations"

        self._running = 0
        for entry in reversed(self._transcript):
            if entry.turn == turn:
                entry.turn_outcome = outcome
                break
        # A steer that came after the turn's last model step: it is answered in a turn of its own.
        for late in reversed(self._steered):
            self._assigned += 1
            late.turn = self._assigned
            self._queued.appendleft(late)
        self._steered = []
        steps = ctx.status.completed_steps[steps_before:]
        usage = sum((step.usage for step in steps), start=UsageTotals())
        self._events.publish(
            TurnEvent(
                kind="turn_ended",
                turn=turn,
                outcome=outcome,
                usage=usage,
                cost_usd=sum(step.cost_usd for step in steps),
            )
        )

    async def _think(self, turn: int, iteration: int) -> LLMResponse | None:
        """The turn's next model call; None when an interrupt cancelled it or it failed for good
        (a failed call ends the turn, not the session)."""
        ctx = self.ctx
        ctx.set_phase("thinking")
        ctx.next_iteration()
        request = LLMRequest(
            model=self._params.model,
            system=self._params.system or SESSION_SYSTEM,
            messages=self._messages,
            tools=self._tool_specs,
            step_kind="session",
            step=f"turn {turn} step {iteration}",
            stream_reply=True,  # clients read the reply as it is written (topic `reply`)
        )
        # No Web UI summary: a turn's calls are many and their label is in the request (`step`).
        call = asyncio.ensure_future(ctx.llm(request, summary=None))
        await workflow.wait_condition(lambda: call.done() or self._interrupting is not None)
        if not call.done():
            call.cancel()
        try:
            return await call
        except (ActivityError, asyncio.CancelledError) as error:
            if self._interrupting is None:
                self._record("assistant", turn, text=f"[the model call failed: {_reason(error)}]")
            return None

    # -- state -----------------------------------------------------------------------------------

    def _restore(self, conversation: SessionConversation) -> None:
        """The conversation a previous run handed over (inline, or from the payload store)."""
        self._messages = list(conversation.messages)
        self._transcript = list(conversation.transcript)
        # Queued messages are transcript entries too (shown at once): the same objects, re-linked.
        by_id = {entry.id: entry for entry in self._transcript}
        self._queued = deque(by_id.get(entry.id, entry) for entry in conversation.queued)
        self._assigned = max([self._carried_turn, *(e.turn for e in self._queued)])
        self._last_id = max((e.id for e in [*self._transcript, *self._queued]), default=0)

    def _tell_model(self, blocks: list[Any]) -> None:
        """A user message to the model. After an interrupted turn the conversation may end with the
        user's side already (its tool results, or the message that was being answered): the new
        blocks join that message, so roles keep alternating as every provider expects."""
        last = self._messages[-1] if self._messages else None
        if last is not None and last.role == "user":
            self._messages[-1] = Message(role="user", content=[*last.content, *blocks])
        else:
            self._messages.append(Message(role="user", content=blocks))

    def _next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def _record(self, role: Any, turn: int, **fields: Any) -> None:
        self._transcript.append(TranscriptEntry(id=self._next_id(), turn=turn, role=role, **fields))

    def _take_steered(self) -> list[TextBlock]:
        steered, self._steered = self._steered, []
        return [TextBlock(text=entry.text) for entry in steered]

    def _on_tool_event(self, kind: str, detail: str) -> None:
        self._events.publish(
            TurnEvent.model_validate({"kind": kind, "turn": self._running, "detail": detail})
        )

    async def _continue_as_new(self) -> None:
        """Hands the conversation to the next run. A message (or `close`) that arrives while the state
        is being sealed changes it: the state is taken again until nothing arrived meanwhile (no
        await stands between the last take and the continue-as-new, so nothing falls in between)."""
        while True:
            seen = (self._last_id, self._closing)
            conversation = SessionConversation(
                messages=self._messages, transcript=self._transcript, queued=list(self._queued)
            )
            digest = await self.ctx.stash(conversation)
            inline = conversation if digest is None else SessionConversation()
            carried = await self.ctx.carry(
                SessionCarry,
                stream_items_kept=STREAM_ITEMS_KEPT,
                **dict(inline),
                conversation=digest,
                turn=self.ctx.status.turn or 0,
                closing=self._closing,
                mcp_tools=[info.model_dump() for info in self._mcp_tools]
                if self._mcp_tools is not None
                else None,
            )
            # An Update delivered with the last activity result runs after this coroutine resumes:
            # let it finish before looking, or a `close` is answered yet never reaches the next run.
            await workflow.wait_condition(workflow.all_handlers_finished)
            if (self._last_id, self._closing) == seen:
                break
        if self._closing is not None:
            return  # closed while the state was being handed over: the session ends in this run
        workflow.continue_as_new(self._params.model_copy(update={"carried": carried, "first_message": None}))


def _reason(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error
    return str(getattr(cause, "message", None) or cause)[:300]
