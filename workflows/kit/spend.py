"""A run's side of tenant budgets (the worker's side: activities/spend): the run's tenant in the
`AiTenant` search attribute, what a model call refused by the tenant's budget means for the run, and
the approvers' say before it ends.

A refused call (`TenantBudgetExhausted`) is final for the call: the activity is not retried. With
`approvers` and `pause_on_budget` (AgentInput) the run asks them, as for its own budget, whether to
try the step again (the tenant's limit itself is raised only by the operator, in
TENANT_BUDGETS_FILE; approving with `budget_usd` also sets the run's budget, if it has one);
otherwise the reason is kept (`RunContext.tenant_refusal`, `status.stopped_because`) and the
shipped workflows end with outcome `tenant_budget_exhausted`.

Workflow code only: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.llm.error_types import TENANT_BUDGET_EXHAUSTED
    from common.contracts.runs import KitInput
    from common.search_attributes import TENANT
    from workflows import models
    from workflows.approval import action_hash
    from workflows.patches import patched_since

if TYPE_CHECKING:
    from workflows.kit.context import RunContext

__all__ = [
    "TENANT_BUDGET_EXHAUSTED_OUTCOME",
    "announce_tenant",
    "ask_to_retry",
    "inherit_tenant",
    "tenant_refusal",
]

TENANT_BUDGET_EXHAUSTED_OUTCOME = "tenant_budget_exhausted"
# workflow.patched id: runs recorded before tenants upserted no AiTenant.
TENANT_SEARCH_ATTRIBUTE = "tenant-search-attribute"


def tenant_refusal(error: BaseException) -> str | None:
    """The one-line reason when `error` (a failed `llm.complete`) is the tenant's budget refusing it."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, ApplicationError) and cause.type == TENANT_BUDGET_EXHAUSTED:
        return cause.message
    return None


def announce_tenant(tenant: str) -> None:
    """The run's tenant in its AiTenant search attribute (`AiTenant = "acme"` finds its runs)."""
    if patched_since(TENANT_SEARCH_ATTRIBUTE):
        workflow.upsert_search_attributes([TENANT.value_set(tenant)])


def inherit_tenant(parent: KitInput, arg: object) -> object:
    """A child's input (`ctx.child`): a child whose input names no tenant of its own spends its
    parent's, so a sub-agent's calls count against the tenant's budget even when the workflow's
    author did not pass `tenant` on."""
    if isinstance(arg, KitInput) and "tenant" not in arg.model_fields_set and arg.tenant != parent.tenant:
        return arg.model_copy(update={"tenant": parent.tenant})
    return arg


async def ask_to_retry(ctx: RunContext, reason: str) -> bool:
    """With approvers and `pause_on_budget`: asks them whether to try the refused step again. True
    when they approved (the caller retries the call); False when nobody may be asked or they refused."""
    if not (getattr(ctx.params, "pause_on_budget", False) and ctx.can_approve):
        return False
    status = ctx.status
    action = models.ProposedAction(
        kind="budget_top_up",
        name="tenant_budget",
        title=(
            f"{reason}. Approve to try the step again (once the operator has raised the tenant's limit, "
            "or the day or month has turned), or reject to end the run."
        ),
    )
    asked = len(status.decisions)  # each request is a new action: an earlier decision is not reused
    decision = await ctx.request_approval(
        action, action_hash("budget_top_up", {"tenant_refusal": reason, "asked": asked})
    )
    if decision.approved and decision.budget_usd is not None and status.budget_usd is not None:
        status.budget_usd = max(status.budget_usd, decision.budget_usd)
    return decision.approved
