"""AgentWorkflow (ReAct), on the kit: while the model asks for tools and the iteration cap and budget
allow, one LLM step, then this turn's tool calls concurrently, then their observations back to the
model.

- A call of an unknown tool or with arguments its input schema refuses becomes an error observation;
  the model can correct itself, the workflow never crashes on it.
- A tool that needs approval runs only after the approval gate approved that exact call (its hash),
  with an idempotency key made here, so retries never repeat it.
- Reaching the cap or the budget ends the run with outcome "max_iterations" / "budget_exhausted"
  (with `pause_on_budget`, the approvers are first asked for a top-up); a model call its tenant's
  budget refuses (TENANT_BUDGETS_FILE) ends it with "tenant_budget_exhausted" (workflows/kit/spend.py).
- Before the history grows near Temporal's limits the run continues-as-new, carrying the
  conversation and the run's whole state, so nothing is lost and `status` keeps working. The
  conversation goes through the payload store (only its digest is in the carried input: inline, a
  long transcript grew every continue-as-new event towards Temporal's 2 MB payload limit), and the
  run's stream hands on its newest items.
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.kit import READ_ONLY_TOOLS
    from workflows.kit import (
        KitWorkflow,
        LLMRequest,
        McpToolInfo,
        Message,
        RunContext,
        ToolSpec,
        invalid_input,
        offer_run_tools,
        patched_since,
    )
    from workflows.models import AgentCarryState, AgentConversation, AgentInput, AgentResult

__all__ = ["AGENT_SYSTEM", "READ_ONLY_TOOLS", "AgentWorkflow"]

# Runs recorded before the transcript went through the store replay with it inline.
STASHED_TRANSCRIPT = "agent-stashed-transcript"
# The stream's newest items handed to the next run (a watcher further behind reads `status`): about
# the last 50 iterations (four items each). The next run's first task decodes them with the rest of
# the carried input; 1,000 were 306 KB of a 1,000-step agent's 767 KB (docs/benchmarks.md).
STREAM_ITEMS_KEPT = 200

AGENT_SYSTEM = (
    "You are a careful agent working towards the user's goal. Call tools when they help; several "
    "independent calls may go in one turn. When you can answer, reply with the answer and no tool call."
)


def check_internal_fields(params: AgentInput) -> None:
    """`report_to_parent` is set by ResearchWorkflow for its children; from a client it would report
    to a run that is not a parent. (`carried` is checked by `RunContext.accept_carried`.)"""
    if params.report_to_parent and workflow.info().parent is None:
        raise invalid_input("`report_to_parent` is for research child runs only; omit it")


@workflow.defn(name="AgentWorkflow", failure_exception_types=[ValidationError])
class AgentWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: AgentInput) -> None:
        self.ctx = RunContext(params, carried=params.carried)
        self._params = params
        carried = params.carried
        self._messages: list[Message] = (
            list(carried.messages) if carried else [Message.user_text(params.goal)]
        )
        self._tool_specs: list[ToolSpec] = []
        self._mcp_tools: list[McpToolInfo] | None = carried.mcp_tools if carried else None

    @workflow.run
    async def run(self, params: AgentInput) -> AgentResult:
        check_internal_fields(params)
        ctx = self.ctx
        await ctx.accept_carried(params.carried)
        if params.carried is not None and params.carried.conversation is not None:
            self._messages = (await ctx.unstash(params.carried.conversation, AgentConversation)).messages
        await self._offer_tools(params)
        if params.carried is None:
            ctx.announce_approvers()
        ctx.publish()

        answer = ""
        while True:
            turn = await ctx.agent_turn(
                self._llm_request,
                max_iterations=params.max_iterations,
                pause_on_budget=params.pause_on_budget,
                continue_as_new=self._continue_as_new,
                continue_every=params.continue_as_new_after_iterations,
            )
            if turn.response is not None:
                self._messages.append(Message(role="assistant", content=turn.response.content))
                answer = turn.response.text() or answer
            if turn.outcome is not None:
                outcome = turn.outcome
                break
            self._messages.append(Message(role="user", content=list(turn.results)))

        await ctx.finish(outcome)
        if outcome != "completed" or not answer:
            why = ctx.status.stopped_because or outcome  # the tenant's refusal, in one line
            answer = answer or f"No final answer: the run stopped ({why}) after {ctx.status.iteration} steps."
        status = ctx.status
        return AgentResult(
            goal=params.goal,
            answer=answer,
            outcome=outcome,
            iterations=status.iteration,
            tenant=params.tenant,
            sources=ctx.sources,
            decisions=status.decisions,
            runs=status.runs,
            **ctx.totals(),
        )

    async def _offer_tools(self, params: AgentInput) -> None:
        self._tool_specs, self._mcp_tools = await offer_run_tools(self.ctx, params.tools, self._mcp_tools)

    def _llm_request(self, step: int) -> LLMRequest:
        """The model's input, built from the run's state. The whole transcript goes in every request,
        yet history does not grow with it: the converter's payload store keeps a big request out of
        history as a reference and stores each message once, so each step adds only what is new."""
        return LLMRequest(
            model=self._params.model,
            system=AGENT_SYSTEM,
            messages=self._messages,
            tools=self._tool_specs,
            step_kind="agent",
            step=f"llm step {step}",
        )

    async def _continue_as_new(self) -> None:
        if not patched_since(STASHED_TRANSCRIPT):
            carried = await self.ctx.carry(
                AgentCarryState, messages=self._messages, mcp_tools=self._mcp_tools
            )
        else:
            digest = await self.ctx.stash(AgentConversation(messages=self._messages))
            carried = await self.ctx.carry(
                AgentCarryState,
                stream_items_kept=STREAM_ITEMS_KEPT,
                messages=self._messages if digest is None else [],
                conversation=digest,
                mcp_tools=self._mcp_tools,
            )
        workflow.continue_as_new(self._params.model_copy(update={"carried": carried}))
