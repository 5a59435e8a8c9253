"""Spans made inside workflow code: the approval wait.

Workflow code runs again on every replay, so these spans must come from the replay-safe tracer
provider that `common.telemetry` installs (`temporalio.contrib.opentelemetry.create_tracer_provider`):
span ids come from a deterministic random of their own (`workflow.new_random()`, seeded like the
workflow's, which they leave alone), and a span is only ended (exported) by the execution that
really reaches its end, so a worker restart during a three-day wait still yields exactly one
`await_approval` span with its true start and end. With no tracing set up, or no exporter, the span
is a non-recording one and this costs next to nothing.

Import it in workflow modules inside `workflow.unsafe.imports_passed_through()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from temporalio import workflow

from common.telemetry import capture_content

__all__ = ["APPROVAL_SPAN", "approval_wait_span"]

TRACER_NAME = "ai_workflows.workflow"
APPROVAL_SPAN = "await_approval"


class ApprovalWait:
    """Handle on the open span: report how the wait ended."""

    def __init__(self, span: Span):
        self._span = span

    def decided(self, *, approved: bool, approver: str, via: str) -> None:
        """`via`: "update", "signal", or "deadline" when the run's policy decided."""
        self._span.set_attributes(
            {
                "ai_workflows.approval.outcome": "approved" if approved else "rejected",
                "ai_workflows.approval.approver": approver,
                "ai_workflows.approval.via": via,
            }
        )


@contextmanager
def approval_wait_span(
    action: str, action_hash: str, approvers: Sequence[str], deadline: datetime
) -> Iterator[ApprovalWait]:
    """Wrap the gate's wait for a decision:

        with approval_wait_span(action, hash_, approvers, pending.deadline) as wait:
            ...wait for the decision (and escalate)...
            wait.decided(approved=record.approved, approver=record.approver, via=record.via)

    The proposed action's text (which may quote model output) is recorded only with content
    capture on; its hash always is.
    """
    attributes: dict[str, str | Sequence[str]] = {
        "ai_workflows.approval.action_hash": action_hash,
        "ai_workflows.approval.approvers": list(approvers),
        "ai_workflows.approval.deadline": deadline.isoformat(),
    }
    if capture_content():
        attributes["ai_workflows.approval.action"] = action
    # Both ends in workflow time: deterministic, and the duration is the wait the run really had
    # (the end is only recorded by the execution that is not replaying).
    span = trace.get_tracer(TRACER_NAME).start_span(
        APPROVAL_SPAN, attributes=attributes, start_time=workflow.time_ns()
    )
    # Attached by hand rather than with `trace.use_span`, so that a coroutine closed outside the
    # workflow's event loop does not detach (the token belongs to the workflow task's context).
    token = otel_context.attach(trace.set_span_in_context(span))
    torn_down = False
    try:
        yield ApprovalWait(span)
    except asyncio.CancelledError:
        # The run was cancelled while waiting (an eviction also cancels, but while replaying,
        # and the replay-safe span ignores that end).
        span.set_attribute("error.type", "cancelled")
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
        span.end(end_time=workflow.time_ns())
        raise
    except GeneratorExit:
        # An evicted run's coroutine closed outside the workflow's event loop: no workflow API
        # (not even its clock) works here. The span stays open, so it is never exported; the
        # worker that resumes the run from history ends it.
        torn_down = True
        raise
    except BaseException as error:
        # Recorded so the replay-safe span drops the end of a failed workflow *task* (retried,
        # would duplicate the span) and keeps that of a failed workflow.
        span.record_exception(error)
        span.set_attribute("error.type", type(error).__qualname__)
        span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
        span.end(end_time=workflow.time_ns())
        raise
    else:
        span.end(end_time=workflow.time_ns())
    finally:
        if not torn_down:
            otel_context.detach(token)
