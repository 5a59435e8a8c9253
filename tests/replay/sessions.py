"""The session scenarios of the replay gate (`python -m tests.replay.record session-...`): what a
client says to a `SessionWorkflow`, and when, so that each recorded history holds one of the
session's paths: queued turns, a steer into a running turn, an interrupt that withdraws a pending
approval and one that cancels a slow model call, continue-as-new between turns.

The model is scripted (`SESSION_SCRIPT`, LLM_PROVIDER=scripted): slow where a message must arrive
while a model call runs, a tool call where the turn must wait for approval."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import WorkflowHandle

from workflows.kit import (
    CloseRequest,
    SendMode,
    SendRequest,
    SessionInput,
    TranscriptPage,
    TranscriptQuery,
    WorkflowStatus,
)

__all__ = ["SESSION_APPROVER", "SESSION_SCRIPT", "Drive", "session_scenarios"]

SESSION_APPROVER = "alice"
Drive = Callable[[WorkflowHandle[Any, Any]], Awaitable[None]]

# Matched on the last user message (or tool result); the first rule that matches answers.
SESSION_SCRIPT: list[dict[str, Any]] = [
    # queue / steer: a slow tool-calling first step, so the steer and the next message arrive in it.
    {
        "match": {"contains": "what is 2+2"},
        "reply": {"tool_calls": [{"name": "calculator", "input": {"expression": "2+2"}}], "delay_s": 1.0},
    },
    {"match": {"contains": "answer in euros"}, "reply": {"text": "4 euros"}},
    {"match": {"contains": "and 3+3"}, "reply": {"text": "6 euros"}},
    # interrupt: a side effect waiting for approval, then a model call slow enough to be cut off.
    {
        "match": {"contains": "pay the invoice"},
        "reply": {
            "tool_calls": [
                {
                    "name": "send_webhook",
                    "input": {"url": "https://hooks.example/pay", "payload": {"amount": 100}},
                }
            ]
        },
    },
    {"match": {"contains": "cancel that"}, "reply": {"text": "cancelled; nothing was paid"}},
    # Before the essay's rule: the interrupting message joins the cut-off turn's user message, which
    # still holds "write an essay", and the first rule that matches answers.
    {"match": {"contains": "stop writing"}, "reply": {"text": "stopped"}},
    {"match": {"contains": "write an essay"}, "reply": {"text": "never finished", "delay_s": 60}},
    # continue-as-new: one turn per run.
    {"match": {"contains": "first"}, "reply": {"text": "re: first"}},
    {"match": {"contains": "second"}, "reply": {"text": "re: second"}},
]


async def send(handle: WorkflowHandle[Any, Any], text: str, mode: SendMode = "queue") -> None:
    await handle.execute_update("send", SendRequest(text=text, mode=mode))


async def close(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.execute_update("close", CloseRequest(reason="recorded"))


async def until(
    handle: WorkflowHandle[Any, Any], condition: Callable[[TranscriptPage, WorkflowStatus], bool]
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60.0
    while True:
        page = await handle.query("transcript", TranscriptQuery(), result_type=TranscriptPage)
        status = await handle.query("status", result_type=WorkflowStatus)
        if condition(page, status):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"the session never got there: {page.model_dump_json()[:500]}")
        await asyncio.sleep(0.05)


def answered(turns: int) -> Callable[[TranscriptPage, WorkflowStatus], bool]:
    return lambda page, _: sum(1 for e in page.entries if e.turn_outcome == "answered") >= turns


def thinking_in(turn: int) -> Callable[[TranscriptPage, WorkflowStatus], bool]:
    return lambda page, _: page.phase == "thinking" and page.turn == turn


async def queue_and_steer(handle: WorkflowHandle[Any, Any]) -> None:
    await send(handle, "what is 2+2?")
    await until(handle, thinking_in(1))
    await send(handle, "answer in euros", "steer")  # joins turn 1: its next step sees it
    await send(handle, "and 3+3?")  # a turn of its own, after turn 1
    await until(handle, answered(2))
    await close(handle)


async def interrupts(handle: WorkflowHandle[Any, Any]) -> None:
    await send(handle, "pay the invoice")
    await until(handle, lambda _, status: status.pending_approval is not None)
    await send(handle, "cancel that", "interrupt")  # the pending approval is withdrawn
    await until(handle, answered(1))
    await send(handle, "write an essay")
    await until(handle, thinking_in(3))
    await send(handle, "stop writing", "interrupt")  # the slow model call is cancelled
    await until(handle, answered(2))
    await close(handle)


async def continues_as_new(handle: WorkflowHandle[Any, Any]) -> None:
    await send(handle, "first")
    await send(handle, "second")
    await until(handle, answered(2))
    await close(handle)


def session_scenarios() -> list[tuple[str, SessionInput, Drive]]:
    """(name, input, what the client does): the session histories the gate replays."""
    return [
        ("session-queue-steer", SessionInput(tools=["calculator"]), queue_and_steer),
        (
            "session-interrupt-approval",
            SessionInput(tools=["send_webhook"], approvers=[SESSION_APPROVER]),
            interrupts,
        ),
        ("session-continue-as-new", SessionInput(continue_as_new_after_turns=1), continues_as_new),
        # Recorded after the idle clock (workflows/session.py IDLE_CLOCK): one idle timer, not one a turn.
        ("session-idle-clock", SessionInput(tools=["calculator"]), queue_and_steer),
    ]
