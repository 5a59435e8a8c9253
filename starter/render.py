"""Plain-text views of statuses, progress events and results for the terminal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from common.contracts.sessions import SendResult, SessionResult, TranscriptEntry, TurnEvent
from starter.turns import TurnReply
from starter.watch import PhaseChanged, ProgressEvent, ReplyStreamed, RunEnded, StepCompleted
from workflows.answer import AnswerResult, answer_report
from workflows.index import IndexResult
from workflows.models import (
    AgentResult,
    ApprovalRecord,
    PendingApproval,
    ResearchResult,
    StepRecord,
    UsageTotals,
    WorkflowStatus,
)

__all__ = [
    "ProgressText",
    "cost_text",
    "decision_line",
    "entry_lines",
    "event_line",
    "money",
    "pending_line",
    "result_text",
    "send_line",
    "status_text",
    "steps_table",
    "turn_event_line",
    "turn_reply_text",
]

# Every token column the price depends on, so a row's cost can be checked from the row.
_HEADERS = ("step", "model", "in", "out", "cache-read", "cache-write", "latency", "cost")


def money(value: float) -> str:
    return f"${value:.6f}"


def cost_text(value: float, steps: Sequence[StepRecord] = ()) -> str:
    """A cost, saying "unpriced" where a model had no price: such a step's $0 is not free."""
    if not any(not step.priced for step in steps):
        return money(value)
    return "unpriced" if value == 0 else f"{money(value)}+unpriced"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def pending_line(pending: PendingApproval, *, full: bool = True) -> str:
    """What waits for a decision; `full=False` keeps the action to its first line (progress output)."""
    action = pending.action
    if not full:
        first = action.strip().splitlines()[0] if action.strip() else ""
        action = first if len(first) <= 120 else first[:117] + "..."
    who = f", approvers: {', '.join(pending.approvers)}" if pending.approvers else ""
    escalated = ", escalated" if pending.escalated else ""
    return (
        f"waiting for approval of: {action} "
        f"(deadline {_when(pending.deadline)}{escalated}, hash {pending.action_hash[:12]}{who})"
    )


def steps_table(
    steps: Sequence[StepRecord], *, usage: UsageTotals | None = None, cost_usd: float | None = None
) -> str:
    """One row per step and a totals row. `in` is uncached input; `cache-read` / `cache-write` are
    the input tokens read from / written to the prompt cache (each has its own price).

    Give the run's own totals (`status.usage`, `status.cost_usd`) when there are any: they count
    everything the run spent (running children included), whatever the listed rows are; without
    them the totals are the sums of the rows."""
    rows = [
        (
            step.step + ("" if step.ok else " (failed)") + (" (reused)" if step.reused else ""),
            step.model or "-",
            str(step.input_tokens),
            str(step.output_tokens),
            str(step.cache_read_tokens),
            str(step.cache_write_tokens),
            f"{step.latency_ms:.0f} ms",
            cost_text(step.cost_usd, [step]),
        )
        for step in steps
    ]
    if usage is None:
        usage = sum((step.usage for step in steps), UsageTotals())
    if cost_usd is None:
        cost_usd = sum(s.cost_usd for s in steps)
    totals = (
        f"total ({len(steps)} steps)",
        "",
        str(usage.input_tokens),
        str(usage.output_tokens),
        str(usage.cache_read_tokens),
        str(usage.cache_write_tokens),
        f"{sum(s.latency_ms for s in steps):.0f} ms",  # the run keeps no latency total
        cost_text(cost_usd, steps),
    )
    table = [_HEADERS, *rows, totals]
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEADERS))]

    def line(row: Sequence[str]) -> str:
        # Text columns left-aligned, numbers right-aligned.
        cells = [
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(_HEADERS), rule, *(line(r) for r in rows), rule, line(totals)])


UNAUTHENTICATED = (
    "decisions are not authenticated: any client that can reach the Temporal namespace may decide "
    "as any listed approver (docs/production.md, Threat model)"
)


def status_text(workflow_id: str, status: WorkflowStatus) -> str:
    head = f"{workflow_id}  phase: {status.phase}  iteration: {status.iteration}"
    if status.runs > 1:
        head += f"  runs: {status.runs}"
    if status.outcome:
        head += f"  outcome: {status.outcome}"
    lines = [head]
    if status.forked_from is not None:
        fork = status.forked_from
        reused = f"steps 1-{fork.step - 1} reused (cost 0), " if fork.step > 1 else ""
        lines.append(
            f"forked from {fork.workflow_id}/{fork.run_id} at step {fork.step}: {reused}live from step {fork.step}"
        )
    lines.append(pending_line(status.pending_approval) if status.pending_approval else "no pending approval")
    if status.pending_approval and not status.decisions_authenticated:
        lines.append(UNAUTHENTICATED)
    usage = status.usage
    budget = f" of {money(status.budget_usd)} budget" if status.budget_usd is not None else ""
    lines.append(
        f"usage: {usage.input_tokens} in, {usage.output_tokens} out, {usage.cache_read_tokens} cache read, "
        f"{usage.cache_write_tokens} cache write; cost {cost_text(status.cost_usd, status.completed_steps)}{budget}"
    )
    if status.decisions:
        lines += ["decisions:", *decisions_lines(status.decisions)]
    lines += ["", steps_table(status.completed_steps, usage=status.usage, cost_usd=status.cost_usd)]
    return "\n".join(lines)


def event_line(event: ProgressEvent) -> str:
    if isinstance(event, PhaseChanged):
        text = f"phase: {event.phase}"
        if event.pending_approval is not None:
            text += f" - {pending_line(event.pending_approval, full=False)}"
        return text
    if isinstance(event, StepCompleted):
        step = event.step
        model = f" {step.model}" if step.model else ""
        state = ("done" if step.ok else "FAILED") + (" (reused)" if step.reused else "")
        return (
            f"  {state}: {step.step} [{step.kind}{model}] {step.input_tokens} in / {step.output_tokens} out"
            f" / {step.cache_read_tokens} cache read / {step.cache_write_tokens} cache write,"
            f" {step.latency_ms:.0f} ms, {cost_text(step.cost_usd, [step])}"
        )
    if isinstance(event, ReplyStreamed):
        chunk = event.chunk
        return f"  reply {chunk.step} ({_attempt(chunk.attempt)}chunk {chunk.seq}): {chunk.text}"
    if isinstance(event, RunEnded):
        return f"run ended: {event.status.lower()}"
    raise TypeError(f"unknown event {event!r}")


def _attempt(attempt: int) -> str:
    return f"attempt {attempt}, " if attempt > 1 else ""


class ProgressText:
    """What the terminal shows of a watched run, event by event: each event's line (`event_line`),
    and a streamed reply's text inline as it arrives, after a `  reply STEP: ` head (a new one for a
    retried attempt, whose text replaces what the earlier one wrote)."""

    def __init__(self) -> None:
        self._showing: tuple[str, int] | None = None  # the (step, attempt) whose text is on the line

    def text(self, event: ProgressEvent) -> str:
        if isinstance(event, ReplyStreamed):
            chunk = event.chunk
            head = ""
            if (chunk.step, chunk.attempt) != self._showing:
                retried = f" (attempt {chunk.attempt})" if chunk.attempt > 1 else ""
                head = ("\n" if self._showing else "") + f"  reply {chunk.step}{retried}: "
                self._showing = (chunk.step, chunk.attempt)
            return head + chunk.text
        end_of_reply = "\n" if self._showing else ""
        self._showing = None
        return end_of_reply + event_line(event) + "\n"


def result_text(result: Any) -> str:
    """A result for the terminal: the shipped workflows' in their own shape; any other kit
    workflow's as its JSON, then the totals every kit result has (steps, usage, cost)."""
    if isinstance(result, ResearchResult):
        lines = [f"# {result.topic}", "", result.report, ""]
        lines.append(f"subtopics: {', '.join(result.subtopics)}")
        if result.failed_subtopics:
            lines.append(f"failed subtopics: {', '.join(result.failed_subtopics)}")
        extra: dict[str, Any] = {"outcome": result.outcome}
    elif isinstance(result, AgentResult):
        lines = [f"goal: {result.goal}", "", result.answer, ""]
        extra = {"outcome": result.outcome, "iterations": result.iterations}
    elif isinstance(result, AnswerResult):
        lines = [f"question: {result.question}", "", answer_report(result), ""]
        extra = {"outcome": result.outcome, "re-asks": result.reasks}
    elif isinstance(result, SessionResult):
        lines = [f"last reply: {result.last_reply}" if result.last_reply else "no reply", ""]
        extra = {"outcome": result.outcome, "turns": result.turns}
        if result.reason:
            extra["reason"] = result.reason
    elif isinstance(result, IndexResult):
        lines = [
            f"corpus {result.corpus} <- {result.directory}: {result.files_indexed} files indexed "
            f"({result.passages} passages, {result.embedded} embedded), {result.files_unchanged} unchanged, "
            f"{result.files_removed} removed"
        ]
        extra = {"outcome": result.outcome}
    else:
        return _generic_result_text(result)
    extra["steps"] = len(result.steps)
    extra["tokens"] = f"{result.usage.input_tokens} in / {result.usage.output_tokens} out"
    extra["cost"] = cost_text(result.cost_usd, result.steps)
    lines.append("  ".join(f"{key}: {value}" for key, value in extra.items()))
    return "\n".join(lines)


def _generic_result_text(result: Any) -> str:
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    if not isinstance(data, dict):
        return json.dumps(data, indent=2, ensure_ascii=False)
    shown = {key: value for key, value in data.items() if key not in ("steps", "usage", "cost_usd")}
    lines = [json.dumps(shown, indent=2, ensure_ascii=False), ""]
    steps = [StepRecord.model_validate(step) for step in data.get("steps") or []]
    usage = UsageTotals.model_validate(data.get("usage") or {})
    totals = {
        "steps": len(steps),
        "tokens": f"{usage.input_tokens} in / {usage.output_tokens} out",
        "cost": cost_text(float(data.get("cost_usd") or 0.0), steps),
    }
    lines.append("  ".join(f"{key}: {value}" for key, value in totals.items()))
    return "\n".join(lines)


def decision_line(workflow_id: str, recorded: ApprovalRecord | None, *, approved: bool) -> str:
    if recorded is None:
        verb = "approval" if approved else "rejection"
        return (
            f"{workflow_id}: {verb} sent as a signal (the run ignores it if the approver or timing is wrong)"
        )
    verdict = "approved" if recorded.approved else "rejected"
    text = (
        f"{workflow_id}: {verdict} by {recorded.approver} at {_when(recorded.decided_at)} via {recorded.via}"
    )
    if recorded.budget_usd is not None:
        text += f", budget now {money(recorded.budget_usd)}"
    return text + (f": {recorded.comment}" if recorded.comment else "")


def decisions_lines(decisions: Sequence[ApprovalRecord]) -> list[str]:
    return [
        f"  {'approved' if d.approved else 'rejected'} by {d.approver} at {_when(d.decided_at)} via {d.via}: "
        f"{d.action[:80]}" + (f" ({d.comment})" if d.comment else "")
        for d in decisions
    ]


# --- sessions --------------------------------------------------------------------------------------

_TOOL_RESULT_CHARS = 300  # a tool's observation can be long: the transcript has it whole


def entry_lines(entry: TranscriptEntry, *, text: bool = True, outcome: bool = True) -> list[str]:
    """A transcript entry for the terminal: `[ID] WHO: TEXT`, a line per tool call or tool result,
    and after a turn's last entry its outcome. `text=False` leaves out the assistant's text (a chat
    client showed it as it streamed); `outcome=False`, the outcome line."""
    head = f"[{entry.id}]"
    lines: list[str] = []
    if entry.role == "user":
        how = f" ({entry.mode})" if entry.mode not in (None, "queue") else ""
        lines.append(f"{head} {entry.sender or 'user'}{how}: {entry.text}")
    elif entry.role == "assistant":
        if text and (entry.text or not entry.tool_calls):
            lines.append(f"{head} assistant: {entry.text}")
        for call in entry.tool_calls:
            arguments = json.dumps(call.get("input", {}), ensure_ascii=False, sort_keys=True)
            lines.append(f"{head} assistant calls {call.get('name', '?')} {arguments}")
    else:
        for result in entry.tool_results:
            content = str(result.get("content", ""))
            if len(content) > _TOOL_RESULT_CHARS:
                content = content[: _TOOL_RESULT_CHARS - 3] + "..."
            label = "tool error" if result.get("is_error") else "tool result"
            lines.append(f"{head} {label}: {content}")
    if outcome and entry.turn_outcome:
        lines.append(f"    turn {entry.turn}: {entry.turn_outcome}")
    return lines


def send_line(sent: SendResult) -> str:
    """What `send` recorded: `message N, turn T (taken as MODE)`."""
    return f"message {sent.message_id}, turn {sent.turn} (taken as {sent.taken_as})"


def turn_reply_text(reply: TurnReply) -> str:
    """The assistant's entries of a message's turn, then how the turn ended."""
    lines = [line for entry in reply.replies for line in entry_lines(entry, outcome=False)]
    return "\n".join([*lines, f"turn {reply.turn}: {reply.outcome}"])


def turn_event_line(event: TurnEvent) -> str | None:
    """A session's turn event as a chat client shows it; None for those the transcript shows."""
    if event.kind == "turn_ended":
        usage = event.usage
        tokens = f"{usage.input_tokens} in / {usage.output_tokens} out, " if usage else ""
        return f"    turn {event.turn}: {event.outcome} ({tokens}{money(event.cost_usd or 0.0)})"
    if event.kind in ("tool_call_started", "tool_call_ended"):
        verb = "started" if event.kind == "tool_call_started" else "ended"
        return f"    tool call {verb}: {event.detail}"
    if event.kind == "approval_decided":
        return f"    approval: {event.detail}"
    return None  # turn_started, message, approval_requested (the chat shows the pending action)
