"""Approve, then deliver: the ending most report-producing workflows share. With approvers the report
waits for a decision on the whole report and its target; with `deliver_to` it is delivered once (the
idempotency key `{workflow_id}/{first run id}/deliver`: `RunContext.idempotency_key`) by webhook,
email or file.

Workflow code only: the delivery is an activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.delivery.activity import DeliveryActivities
    from activities.delivery.targets import parse_target
    from common.contracts.delivery import DeliveryReceipt, DeliveryRequest
    from common.contracts.runs import invalid_input
    from workflows.actions import masked_url, proposed_action
    from workflows.activity_options import DELIVERY
    from workflows.approval import action_hash
    from workflows.kit.context import RunContext
    from workflows.kit.eval_mode import WOULD_SIMULATE, simulated_delivery
    from workflows.models import ApprovalRecord, StepRecord

__all__ = ["Delivered", "approve_and_deliver", "delivery_channel"]


def delivery_channel(deliver_to: str | None) -> str | None:
    """The channel of `deliver_to` ("webhook", "email", "file"); a bad target is `InvalidInput` (call
    it before any step runs, so the run fails at once)."""
    if deliver_to is None:
        return None
    try:
        return parse_target(deliver_to).channel
    except ValueError as error:
        raise invalid_input(str(error)) from None


@dataclass
class Delivered:
    outcome: str  # "completed", "rejected", "delivery_failed"
    approval: ApprovalRecord | None = None
    receipt: DeliveryReceipt | None = None


async def approve_and_deliver(
    ctx: RunContext,
    *,
    what: str,
    report: str,
    deliver_to: str | None,
    subject: str,
    data: dict[str, Any],
    shown: dict[str, Any] | None = None,
) -> Delivered:
    """`what`: how the reviewer's title names the report ("the research report"); `shown`: more
    arguments the reviewer sees beside the report and the target (e.g. the topic)."""
    channel = delivery_channel(deliver_to)
    if ctx.params.eval_mode:  # an eval never delivers, nor asks anyone to approve a delivery
        await ctx.fork.refuse_if_ran("delivery", "deliver", WOULD_SIMULATE)
        if channel is not None and deliver_to is not None:
            ctx.record(simulated_delivery(channel, deliver_to))
        return Delivered("completed")
    result = Delivered("completed")
    if ctx.can_approve:
        arguments: dict[str, Any] = {**(shown or {}), "report": report}
        masked: dict[str, str] = {}
        if channel and deliver_to:
            arguments["deliver_to"] = deliver_to
            masked["deliver_to"] = masked_url(deliver_to)
        action = proposed_action(
            "delivery",
            channel or "result",
            arguments,
            targets=("deliver_to",),
            verb=f"Deliver {what} by {channel}" if channel else None,
            shown=masked,
        )
        if not channel:
            action.title = f"Deliver {what} as the workflow result (no delivery target)"
        digest = action_hash("deliver", {"target": deliver_to, "report": report})
        result.approval = await ctx.request_approval(action, digest)
        if not result.approval.approved:
            result.outcome = "rejected"
            return result
    if channel is None or deliver_to is None:
        return result
    ctx.set_phase("delivering")
    request = DeliveryRequest(
        target=deliver_to,
        idempotency_key=ctx.idempotency_key("deliver"),
        subject=subject,
        body=report,
        data=data,
    )
    if (recorded := await ctx.fork.take("delivery", "deliver")) is not None:
        # A fork past its source's delivery: the recorded receipt, never delivered twice.
        result.receipt = ctx.fork.reused_delivery(recorded)
        result.outcome = "completed" if result.receipt is not None else "delivery_failed"
        return result
    try:
        receipt: DeliveryReceipt = await workflow.execute_activity_method(
            DeliveryActivities.deliver, request, summary=f"deliver {channel}", **DELIVERY.kwargs()
        )
    except ActivityError as error:
        # The report is not lost: it is the result; the outcome says delivery did not happen.
        result.outcome = "delivery_failed"
        ctx.record(
            StepRecord(step="deliver", kind="delivery", ok=False, detail=str(error.cause or error)[:300])
        )
        return result
    result.receipt = receipt
    detail = f"{receipt.channel} {receipt.detail}" + (" (duplicate)" if receipt.duplicate else "")
    ctx.record(StepRecord(step="deliver", kind="delivery", detail=detail.strip()))
    return result
