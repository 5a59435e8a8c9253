"""`RunContext`: the one object that owns a kit workflow's run — its state (status, steps, usage,
cost, decisions) and the steps that change it: LLM steps, tool calls, approvals, children, limits,
progress and continue-as-new.

    ctx = RunContext(params)                      # in the workflow's @workflow.init
    reply = await ctx.llm(LLMRequest(..., step_kind="classify", step="classify"))
    seen = await ctx.call_tool("lookup_customer", {"email": ...})   # step "tool 1 lookup_customer"
    record = await ctx.request_approval(proposed_action(...), action_hash(...))
    turn = await ctx.agent_turn(build_request, max_iterations=10)  # an agent loop's turn
    return MyResult(answer=..., **ctx.totals())

Workflow code only: every step is an activity or child workflow; nothing here does I/O.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.contrib.workflow_streams import WorkflowStream
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.approval_policy import ApprovalPolicyConfig, approval_policy
    from activities.llm.activity import LLMActivities
    from activities.run_state import SealRequest, seal_run_state, stash_state, unstash_state, verify_run_state
    from common.approval_rules import RuleOutcome, decide
    from common.approval_signing import ApproverKeys, decision_fields, verify_decision
    from common.contracts.llm import (
        LLMRequest,
        LLMResponse,
        ToolResultBlock,
        ToolSpec,
        ToolUseBlock,
        spent_usage_of,
    )
    from common.contracts.runs import invalid_input
    from common.contracts.tools import ToolObservation
    from workflows import models
    from workflows.actions import compact_json, proposed_action
    from workflows.activity_options import LLM_CALL, RUN_STATE
    from workflows.approval import ApprovalGate, action_hash
    from workflows.kit import eval_mode
    from workflows.kit.fork import ForkReplay
    from workflows.kit.spend import (
        TENANT_BUDGET_EXHAUSTED_OUTCOME,
        announce_tenant,
        ask_to_retry,
        inherit_tenant,
        tenant_refusal,
    )
    from workflows.kit.tools import InvalidArguments, WorkflowTool, choose_tools, registered_tools
    from workflows.patches import GENERATIONS, current_generation, patched_since
    from workflows.progress import RunProgress
    from workflows.rate_limit_waits import RateLimitWaits
    from workflows.reply_end import asking_for_reply_end, publish_reply_end
    from workflows.stream_topics import STREAM_OFFSET_QUERY

__all__ = ["MAX_OBSERVATION_CHARS", "AgentTurn", "RunContext"]

# Keeps the conversation (sent to the model every step, carried across continue-as-new) small.
MAX_OBSERVATION_CHARS = 4000
# Continue-as-new well before Temporal's history warnings (10 240 events / 10 MB).
HISTORY_EVENTS_LIMIT = 8_000
HISTORY_BYTES_LIMIT = 4 * 1024 * 1024

Result = TypeVar("Result")
Carry = TypeVar("Carry", bound=models.RunCarry)
Stashed = TypeVar("Stashed", bound=BaseModel)
# workflow.patched id: runs recorded before carried state was sealed replay without the seal steps.
SEALED_RUN_STATE = "sealed-run-state"
RUN_CHAIN_KEYS = "run-chain-keys"  # workflow.patched id: keys made before it name no run chain
APPROVAL_POLICY = "approval-policy"  # workflow.patched id: runs recorded before rules and signatures
# workflow.patched id: runs recorded before step records went through the payload store carry them inline.
STASHED_STEP_RECORDS = "stashed-step-records"


class RunContext:
    def __init__(
        self,
        params: models.KitInput,
        *,
        carried: models.RunCarry | None = None,
        phase: str = "running",
    ) -> None:
        self.params = params
        status = models.WorkflowStatus(phase=phase, budget_usd=params.budget_usd)
        if carried is not None:
            status = models.WorkflowStatus(
                phase=phase,
                iteration=carried.iteration,
                usage=carried.usage,
                cost_usd=carried.cost_usd,
                completed_steps=list(carried.steps),
                budget_usd=carried.budget_usd,
                decisions=list(carried.decisions),
                runs=carried.runs,
            )
        status.forked_from = params.fork_from
        status.tenant = params.tenant
        # Why the tenant's budget refused a model call for good (activities/spend); None before.
        self.tenant_refusal: str | None = None
        # The stream's log carries over continue-as-new, so a watcher's offset stays valid.
        self._progress = RunProgress(status, WorkflowStream(carried.stream_state if carried else None))
        # A fork (`params.fork_from`): the source's steps before the fork point are reused, not run.
        self.fork = ForkReplay(params.fork_from, self._progress, eval_mode=params.eval_mode)
        self._gate = ApprovalGate(params, self._progress)
        self._waits = RateLimitWaits(self._progress.status)  # `waiting_for` (Signal rate_limit_wait)
        self.tools: dict[str, WorkflowTool] = {}
        self.sources: list[str] = list(carried.sources) if carried else []
        self._one_approval_at_a_time = asyncio.Lock()
        self._parent_reports: list[asyncio.Task[None]] = []
        self._steps_this_run = 0
        # Step numbers per kind ("llm 3", "tool 2"), counted across continue-as-new from the carried
        # steps: a step's name (and a tool call's idempotency key) is unique in the run chain.
        self._policy: ApprovalPolicyConfig | None = None  # the worker's approval rules and keys
        self._policy_lock = asyncio.Lock()
        # Why the running turn stops calling tools (`interrupt`); None while tools may run.
        self._interrupted: str | None = None
        # Told of tool calls and approvals as they start and end (`observe`): a session's turn events.
        self._observers: list[Callable[[str, str], None]] = []
        self._numbers: dict[str, int] = {}
        self._count_steps(status.completed_steps)
        # False once `stash` found no payload store on this worker: the step records then stay inline.
        self._can_stash = True

    def _count_steps(self, records: list[models.StepRecord]) -> None:
        for record in records:
            self._numbers[record.kind] = self._numbers.get(record.kind, 0) + 1

    @property
    def status(self) -> models.WorkflowStatus:
        """The run's state (what the `status` Query shows, less running children's totals)."""
        return self._progress.status

    @property
    def can_approve(self) -> bool:
        """Whether someone can decide on this run's approvals (it has `approvers`)."""
        return self._gate.can_approve

    @property
    def cost_usd(self) -> float:
        """What the run has spent so far, running children included."""
        return self._progress.cost_usd

    def budget_spent(self) -> bool:
        """True once the run's cost reached its budget (never without a budget)."""
        return self._progress.budget_spent()

    @property
    def stream(self) -> WorkflowStream:
        """The run's Workflow Stream (`starter watch` follows it): publish topics of your own with
        `ctx.stream.topic(name, type=...).publish(item)`."""
        return self._progress.stream

    def observe(self, observer: Callable[[str, str], None]) -> None:
        """`observer(kind, detail)` is told "tool_call_started", "tool_call_ended",
        "approval_requested" and "approval_decided" as they happen (workflow code: no I/O)."""
        self._observers.append(observer)

    def _tell(self, kind: str, detail: str) -> None:
        for observer in self._observers:
            observer(kind, detail)

    def interrupt(self, reason: str) -> None:
        """Stops the running work at its next safe point: a pending approval is withdrawn (recorded
        as such), tool calls not started yet do not start (error observations saying why); a tool
        call already running finishes. `resume()` lets tools run again."""
        self._interrupted = reason
        self._gate.withdraw(reason)

    def resume(self) -> None:
        self._interrupted = None

    def _next_number(self, kind: str) -> int:
        self._numbers[kind] = self._numbers.get(kind, 0) + 1
        return self._numbers[kind]

    # -- LLM steps -----------------------------------------------------------------------------------

    async def llm(
        self, request: LLMRequest, *, step: str | None = None, summary: str | None = ""
    ) -> LLMResponse:
        """One model call as an activity (retried by Temporal, never repeated once it completed);
        the step, its usage and cost are recorded. The step's name is `request.step` when set (or
        `step`), else `"{step_kind} N"`, numbered by the context. `summary` labels it in the Web UI
        (`""`: the step and model; `None`: none, for calls made many times a run, as the agent loop's
        and a session's: each summary is one more payload the SDK visits per call)."""
        step = step or request.step or f"{request.step_kind} {self._next_number('llm')}"
        if request.step != step:
            request = request.model_copy(update={"step": step})
        if request.model is None and self.params.model is not None:
            request = request.model_copy(update={"model": self.params.model})
        if request.tenant is None:  # the worker reserves against this tenant's budget, if it has one
            request = request.model_copy(update={"tenant": self.params.tenant})
        if self.status.budget_usd is not None and not request.require_price:
            # A budget is only a limit if every call has a price: an unpriced model fails at once.
            request = request.model_copy(update={"require_price": True})
        if summary == "":
            summary = f"{step} (llm {request.model or 'default model'})"
        if (recorded := await self.fork.take("llm", step)) is not None:
            return self.fork.reused_llm(recorded)
        self._waits.step_started(step)  # only a step in flight may be shown waiting (forged Signals)
        try:
            response: LLMResponse = await workflow.execute_activity_method(
                LLMActivities.complete,
                asking_for_reply_end(request),
                summary=summary,
                # A cancelled call (an interrupted turn) reports the tokens it used before it ends.
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                **LLM_CALL.kwargs(),
            )
        except ActivityError as error:
            self._waits.step_ended(step)
            # Failed for good, yet its attempts were billed: count what they used.
            self._progress.record_failed_llm(step, request.model, spent_usage_of(error.cause))
            if (refused := tenant_refusal(error)) is not None:
                if await ask_to_retry(self, refused):
                    return await self.llm(request, step=step, summary=summary)
                self.tenant_refusal = self.status.stopped_because = refused
            raise
        self._waits.step_ended(step)
        publish_reply_end(self.stream, step, response)  # before the step: the text, then its end
        self._progress.record_llm(step, response)
        self.report_to_parent()
        return response

    # -- tools ---------------------------------------------------------------------------------------

    def offer_tools(
        self, names: Sequence[str] | None, *, extra: Iterable[WorkflowTool] = ()
    ) -> list[ToolSpec]:
        """Chooses the tools this run offers (`choose_tools`: the registered ones plus `extra`, such
        as an MCP server's) and returns what the model is shown."""
        available = registered_tools()
        available.update({t.name: t for t in extra})
        chosen = choose_tools(available, names, self._gate.can_approve)
        self.tools = {t.name: t for t in chosen}
        return [t.spec() for t in chosen]

    async def call_tools(self, calls: Sequence[ToolUseBlock], step: int) -> list[ToolResultBlock]:
        """One model turn's tool calls (the turn of LLM step `step`), concurrently, each recorded as
        a step (`tool {step}.{i} {name}`); every failure the model can act on comes back as an error
        result, never as an exception."""
        self._progress.set_phase("calling_tools")
        return list(await asyncio.gather(*(self._result(call, step, i) for i, call in enumerate(calls))))

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolObservation:
        """One tool call by name, recorded as a step (`tool N {name}`, numbered by the context, which
        also makes its idempotency key): unknown tools and bad arguments become error observations;
        a tool that needs approval passes the gate with its whole call first."""
        number = self._next_number("tool")
        observation = await self._call(name, arguments, f"tool-{number}", f"tool {number} {name}")
        self._record_tool(f"tool {number} {name}", name, arguments, observation)
        return observation

    async def _call(self, name: str, arguments: dict[str, Any], key_step: str, step: str) -> ToolObservation:
        if self._interrupted is not None:
            return _error(f"{name} was not called: {self._interrupted}")
        offered = self.tools.get(name)
        if offered is None:
            await self.fork.refuse_if_ran("tool", step, "does not offer the tool")
            return _error(f"unknown tool {name!r}; available tools: {sorted(self.tools)}")
        try:
            parsed = offered.parse(arguments)
        except InvalidArguments as error:
            await self.fork.refuse_if_ran("tool", step, "refuses its arguments")
            return _error(f"invalid arguments for {name}: {error}")
        if self.params.eval_mode and eval_mode.has_side_effect(offered):
            # A fork's side effect before its fork point cannot be simulated: that is another path.
            await self.fork.refuse_if_ran("tool", step, eval_mode.WOULD_SIMULATE)
            return eval_mode.simulated_tool_call(name, parsed)  # neither approved nor run
        digest = action_hash(name, parsed)
        outcome = await self._rule_outcome(name, parsed, side_effect=offered.needs_approval)
        decision: models.ApprovalRecord | None = None
        if outcome.decision == "deny":
            return _error(f"{name} is refused by approval rule {outcome.rule!r}; it will not run")
        if outcome.decision != "run":
            action = proposed_action("tool", name, parsed, targets=offered.targets)
            if outcome.decision == "approve":
                comment = f"approved by rule {outcome.rule!r} without asking anyone"
                decision = self._gate.record_decided(
                    action,
                    digest,
                    approver=f"rule {outcome.rule}",
                    via="rule",
                    comment=comment,
                    by_rule=outcome.rule,
                )
            else:
                decision = self._approved_for_run(action, digest) or await self.request_approval(
                    action, digest, approvals_needed=outcome.approvers
                )
            if not decision.approved:
                return _error(f"rejected by {decision.approver}: {decision.comment}")
        key = None
        if offered.needs_key or decision is not None:
            key = self.idempotency_key(key_step, f"{name}-{digest[:16]}")
        if self._interrupted is not None:  # interrupted while it waited for its turn at the gate
            return _error(f"{name} was not called: {self._interrupted}")
        if (recorded := await self.fork.take("tool", step)) is not None:
            return self.fork.reused_observation(recorded)
        self._tell("tool_call_started", name)
        try:
            observation = await offered.run(parsed, key, f"tool {name}", decision)
        except ActivityError as error:
            observation = _error(f"{name} failed: {_cause(error)}")
        self._tell("tool_call_ended", f"{name}: {'error' if observation.is_error else 'ok'}")
        return observation

    async def _result(self, call: ToolUseBlock, step: int, index: int) -> ToolResultBlock:
        name = f"tool {step}.{index + 1} {call.name}"
        observation = await self._call(call.name, call.input, f"step-{step}", name)
        described = self._record_tool(name, call.name, call.input, observation)
        if not observation.is_error and described not in self.sources:
            self.sources.append(described)
        content = observation.content
        if len(content) > MAX_OBSERVATION_CHARS:
            content = content[:MAX_OBSERVATION_CHARS] + f"\n[truncated {len(content)} chars]"
        return ToolResultBlock(tool_use_id=call.id, content=content, is_error=observation.is_error)

    def _record_tool(
        self, step: str, name: str, arguments: dict[str, Any], observation: ToolObservation
    ) -> str:
        """Records a tool call as a step; returns how it is described (`name(arguments)`)."""
        described = f"{name}({compact_json(arguments)})"
        self._progress.record(
            models.StepRecord(
                step=step,
                kind="tool",
                ok=not observation.is_error,
                detail=(
                    observation.content[:300]
                    if observation.is_error or eval_mode.is_simulated(observation)
                    else described
                ),
                reused=step in self.fork.reused,
            )
        )
        return described

    def idempotency_key(self, *parts: str) -> str:
        """`{workflow_id}/{first run id}/{parts}`: stable across retries, resets and continue-as-new
        (one run chain), new for a new run under a reused workflow id, whose side effects are new."""
        info = workflow.info()
        if not patched_since(RUN_CHAIN_KEYS):
            return "/".join((info.workflow_id, *parts))  # replaying a run that made keys without it
        return "/".join((info.workflow_id, info.first_execution_run_id, *parts))

    # -- approvals -----------------------------------------------------------------------------------

    async def request_approval(
        self, action: models.ProposedAction, digest: str, *, approvals_needed: int = 1
    ) -> models.ApprovalRecord:
        """Waits for a person's decision on `action` (`digest`: `action_hash` of exactly what will
        run); `approvals_needed` different people for a two-person rule. One request at a time:
        concurrent tool calls queue for the reviewer. With signed approvals configured
        (APPROVER_KEYS_FILE), only a decision signed by the approver's key counts."""
        await self._approval_policy()
        async with self._one_approval_at_a_time:
            if (reused := await self.fork.reused_decision(self.status.decisions, digest)) is not None:
                return reused  # the source's decision before the fork point: nobody is asked again
            self._tell("approval_requested", action.title)
            record = await self._gate.request(action, digest, approvals_needed=approvals_needed)
            verdict = "approved" if record.approved else "rejected"
            self._tell("approval_decided", f"{verdict} by {record.approver} via {record.via}")
            return record

    async def _approval_policy(self) -> ApprovalPolicyConfig:
        """The worker's approval rules and keys, fetched once per run (an activity: recorded in
        history, so a replay decides the same). Runs recorded before it replay without (no rules,
        unauthenticated decisions, as they ran)."""
        async with self._policy_lock:  # concurrent tool calls of one turn: one look-up
            return await self._load_approval_policy()

    async def _load_approval_policy(self) -> ApprovalPolicyConfig:
        if self._policy is not None:
            return self._policy
        policy = ApprovalPolicyConfig()
        if patched_since(APPROVAL_POLICY):
            policy = await workflow.execute_activity(
                approval_policy, summary="approval policy", **RUN_STATE.kwargs()
            )
        keys = policy.keys
        if keys is not None:
            self._gate.verify = lambda decision, pending: _check_signature(keys, decision, pending)
            self.status.decisions_authenticated = True
        self._policy = policy
        return policy

    async def _rule_outcome(self, name: str, arguments: dict[str, Any], *, side_effect: bool) -> RuleOutcome:
        """How the rules decide this call (`common.approval_rules`); a call that needs no approval by
        default and meets no rule of the run's own costs no policy look-up."""
        if not side_effect and not self.params.approval_rules:
            return RuleOutcome("run")
        policy = await self._approval_policy()
        return decide(policy.rules, self.params.approval_rules, name, arguments, side_effect=side_effect)

    def _approved_for_run(self, action: models.ProposedAction, digest: str) -> models.ApprovalRecord | None:
        """An earlier approval "for the rest of this run" of this tool with these same targets (the
        same arguments, for a tool that declares none) covers this call: recorded as such."""
        wanted = _run_scope(action, digest)
        for earlier in self.status.decisions:
            if earlier.for_run and earlier.approved and earlier.proposed is not None:
                if _run_scope(earlier.proposed, earlier.action_hash) == wanted:
                    comment = f"covered by {earlier.approver}'s approval for the rest of the run"
                    return self._gate.record_decided(
                        action, digest, approver=earlier.approver, via="for_run", comment=comment
                    )
        return None

    async def ask_for_top_up(self, step_usd: float) -> bool:
        """The budget is spent: asks the approvers for more (`budget_usd` in the decision is the new
        total; without it `step_usd` is added). True when the run may go on."""
        status = self.status
        spent, budget = self._progress.cost_usd, status.budget_usd or 0.0
        action = models.ProposedAction(
            kind="budget_top_up",
            name="budget",
            title=(
                f"Raise the budget: ${spent:.6f} spent of ${budget:.6f} after {status.iteration} steps. "
                f"Approve with `budget_usd` (the new total), or without it to add ${step_usd:.6f}."
            ),
        )
        decision = await self.request_approval(
            action, action_hash("budget_top_up", {"spent": round(spent, 9), "budget": budget})
        )
        new_budget = decision.budget_usd or budget + step_usd
        if not decision.approved or new_budget <= spent:
            return False
        status.budget_usd = new_budget
        return True

    # -- limits and agent turns ----------------------------------------------------------------------

    async def agent_turn(
        self,
        request: Callable[[int], LLMRequest],
        *,
        max_iterations: int,
        pause_on_budget: bool = False,
        continue_as_new: Callable[[], Awaitable[None]] | None = None,
        continue_every: int | None = None,
    ) -> AgentTurn:
        """One turn of an agent (ReAct) loop: the limits first (the iteration cap; a spent budget
        asks the approvers for a top-up with `pause_on_budget`), then `continue_as_new()` when the
        history is due (it must not return: `await ctx.carry(...)` then `workflow.continue_as_new`),
        then the next iteration's model call (`request(iteration)` builds it), then that turn's tool
        calls. The turn's `outcome` is set when the loop must end."""
        while (outcome := self.limit_reached(max_iterations)) is not None:
            if outcome == "budget_exhausted" and pause_on_budget and self.can_approve:
                if await self.ask_for_top_up(self.params.budget_usd or 0.0):
                    continue
            return AgentTurn(outcome=outcome)
        if continue_as_new is not None and self.should_continue_as_new(continue_every):
            await continue_as_new()
        step = self.next_iteration()
        self.set_phase("running")
        try:
            # No Web UI summary on an iteration's model call: the SDK passes every payload of a
            # command through about four sandboxed look-ups (~0.15 ms each), so a summary cost
            # about 3% of a step's CPU; the step's name is in the request and in `status`.
            response = await self.llm(request(step), step=f"llm step {step}", summary=None)
        except ActivityError:
            if self.tenant_refusal is None:
                raise
            return AgentTurn(outcome=TENANT_BUDGET_EXHAUSTED_OUTCOME)  # the reason: `tenant_refusal`
        calls = response.tool_calls()
        if not calls:
            return AgentTurn(response, outcome="completed")
        if step >= max_iterations:
            # The calls of a turn that cannot be followed up are not run.
            return AgentTurn(response, outcome="max_iterations")
        return AgentTurn(response, await self.call_tools(calls, step))

    def next_iteration(self) -> int:
        """Counts one more iteration (what `limit_reached` and `status` count); `agent_turn` does it
        for an agent loop."""
        self.status.iteration += 1
        self._steps_this_run += 1
        return self.status.iteration

    def limit_reached(self, max_iterations: int) -> str | None:
        """ "max_iterations" or "budget_exhausted" when the run must stop, else None."""
        if self.status.iteration >= max_iterations:
            return "max_iterations"
        if self._progress.budget_spent():
            return "budget_exhausted"
        return None

    # -- progress ------------------------------------------------------------------------------------

    def set_phase(self, phase: str) -> None:
        self._progress.set_phase(phase)

    def announce_approvers(self) -> None:
        """Names the run's approvers in its AiApprovers search attribute, where the inbox and
        visibility queries find the runs a person may decide on (call it once, when a run starts)."""
        if current_generation():  # one upsert: approvers, tenant (AiTenant), phase and cost
            self._progress.announce(self.params.approvers, self.params.tenant)
            return
        self._progress.announce_approvers(self.params.approvers)
        announce_tenant(self.params.tenant)  # and the tenant in AiTenant

    def publish(self) -> None:
        """Shows the phase and cost in the run's search attributes now (a run calls it once it has
        started; later changes are published as they happen)."""
        self._progress.publish()

    def record(self, record: models.StepRecord) -> models.StepRecord:
        """Records a step of your own (a `StepRecord`): in `status`, the stream and the totals."""
        return self._progress.record(record)

    def totals(self) -> dict[str, Any]:
        """The run's steps, usage and cost, for its result."""
        status = self.status
        return {"steps": status.completed_steps, "usage": status.usage, "cost_usd": status.cost_usd}

    async def finish(self, outcome: str, *, phase: str = "completed") -> None:
        """The run ends: its outcome in `status`, the last phase, watchers released."""
        await self._settle_parent_reports()
        self.status.outcome = outcome
        self._progress.set_phase(phase)
        await self._progress.close_stream()

    # -- children ------------------------------------------------------------------------------------

    async def child(
        self,
        run: Callable[..., Any],
        arg: Any,
        *,
        id: str,
        step: str,
        usage_of: Callable[[Any], tuple[models.UsageTotals, float, str]],
        **options: Any,
    ) -> Any:
        """Runs a child workflow; its live totals (its `child_progress` signals) and then its final
        totals (`usage_of(result)`: usage, cost, detail) count as this run's."""
        arg = inherit_tenant(self.params, eval_mode.for_child(self.params, arg))  # the run's, not lost
        try:
            result = await workflow.execute_child_workflow(run, arg, id=id, **options)
        except Exception:
            self._progress.child_finished(id, models.StepRecord(step=step, kind="child", ok=False))
            raise
        usage, cost_usd, detail = usage_of(result)
        self._progress.child_finished(
            id,
            models.StepRecord(
                step=step, kind="child", **usage.model_dump(), cost_usd=cost_usd, detail=detail
            ),
        )
        return result

    def report_to_parent(self) -> None:
        """A child run with `report_to_parent`: its running totals to the parent after each step."""
        parent = workflow.info().parent
        if not getattr(self.params, "report_to_parent", False) or parent is None:
            return
        status = self.status
        progress = models.ChildProgress(
            child_id=workflow.info().workflow_id,
            usage=status.usage,
            cost_usd=status.cost_usd,
            steps=len(status.completed_steps),
        )
        handle = workflow.get_external_workflow_handle(parent.workflow_id)
        self._parent_reports.append(asyncio.create_task(handle.signal("child_progress", progress)))

    async def _settle_parent_reports(self) -> None:
        reports, self._parent_reports = self._parent_reports, []
        for outcome in await asyncio.gather(*reports, return_exceptions=True):
            if isinstance(outcome, BaseException):
                workflow.logger.warning("progress report to the parent failed: %s", outcome)

    # -- continue-as-new -----------------------------------------------------------------------------

    def should_continue_as_new(self, every: int | None = None) -> bool:
        """Before the history grows near Temporal's limits (or every `every` iterations)."""
        if self._steps_this_run == 0:
            return False  # every run makes progress
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > HISTORY_EVENTS_LIMIT
            or info.get_current_history_size() > HISTORY_BYTES_LIMIT
            or (every is not None and self._steps_this_run >= every)
        )

    async def carry(
        self,
        model: type[Carry] = models.RunCarry,  # type: ignore[assignment]
        *,
        stream_items_kept: int | None = None,
        **extra: Any,
    ) -> Carry:
        """The whole state for the next run (`model`: `RunCarry` or a subclass, with `extra` for its
        own fields; `stream_items_kept`: how many of the stream's newest items to hand on, all when
        None), sealed for this run chain, once every handler and report has finished: no
        approval in flight is cut off, watchers follow to the next run. Pass it in the next run's
        input; that run calls `accept_carried` before using it."""
        await self._settle_parent_reports()
        await self._progress.close_stream()
        if stream_items_kept is not None:
            # The stream keeps every item and hands them all on: a long session keeps the newest
            # (a client further behind than that reads the transcript instead).
            # An offset at or before the stream's base truncates nothing.
            self._progress.stream.truncate(_stream_end() - stream_items_kept)
        status = self.status
        steps, steps_stash = await self._carried_steps()
        state = model(
            iteration=status.iteration,
            usage=status.usage,
            cost_usd=status.cost_usd,
            budget_usd=status.budget_usd,
            steps=steps,
            steps_stash=steps_stash,
            decisions=status.decisions,
            runs=status.runs + 1,
            sources=self.sources,
            stream_state=self._progress.stream.get_state(),
            **extra,
        )
        if not patched_since(SEALED_RUN_STATE):
            return state  # replaying a run recorded before seals
        seal = await workflow.execute_activity(
            seal_run_state, _seal_request(state), summary="seal carried state", **RUN_STATE.kwargs()
        )
        return state.model_copy(update={"seal": seal})

    async def _carried_steps(self) -> tuple[list[models.StepRecord], str | None]:
        """The step records for the carried state: inline, or through the payload store (their
        digest), where a long run's records would make most of the next run's input."""
        records = list(self.status.completed_steps)
        if not records or not self._can_stash or not patched_since(STASHED_STEP_RECORDS, GENERATIONS[1]):
            return records, None
        digest = await self.stash(models.CarriedSteps(steps=records))
        return ([], digest) if digest is not None else (records, None)

    async def stash(self, state: BaseModel) -> str | None:
        """Keeps `state` (a conversation, too big to travel inline) in the payload store for the next
        run: put the returned digest in the carried state, whose seal then covers it. None when the
        worker has no store (`PAYLOAD_STORE=off`): carry the state inline instead."""
        # Handed over as the converter's JSON: a transcript's messages are written once each while
        # they live (common/message_json.py), and the activity keeps the bytes as they come.
        (payload,) = workflow.payload_converter().to_payloads([state])
        digest: str | None = await workflow.execute_activity(
            stash_state, RawValue(payload), summary="stash state", **RUN_STATE.kwargs()
        )
        self._can_stash = digest is not None
        return digest

    async def unstash(self, digest: str, model: type[Stashed]) -> Stashed:
        """The state `stash` kept under `digest` (from carried state `accept_carried` verified)."""
        kept = await workflow.execute_activity(
            unstash_state, digest, summary="unstash state", **RUN_STATE.kwargs()
        )
        # Read straight into the model: half the time of parsing to dicts and validating those.
        state: Stashed = workflow.payload_converter().from_payload(kept.payload, model)
        return state

    async def accept_carried(self, state: models.RunCarry | None) -> None:
        """Fails the run (`InvalidInput`) unless `state` is None or the state this workflow's
        previous run sealed: not a first run's, a client's, a cron run's, or another run chain's.
        Call it first thing in `run` when the input has carried state."""
        if state is None:
            return
        if workflow.info().continued_run_id is None:
            raise invalid_input("`carried` is set by the workflow when it continues-as-new; omit it")
        if not patched_since(SEALED_RUN_STATE):
            return  # replaying a run recorded before seals
        request = _seal_request(state).model_copy(update={"seal": state.seal})
        try:
            await workflow.execute_activity(
                verify_run_state, request, summary="verify carried state", **RUN_STATE.kwargs()
            )
        except ActivityError as error:
            raise invalid_input(_cause(error)) from None
        if state.steps_stash is not None:
            # Until here `status` lists none of the earlier runs' steps (its totals are carried inline).
            records = (await self.unstash(state.steps_stash, models.CarriedSteps)).steps
            self.status.completed_steps[:0] = records
            self._count_steps(records)


def _stream_end() -> int:
    """The offset after the run stream's newest item, from the stream's own offset Query (what
    clients ask): `get_state()` would encode every item kept (thousands in a long run) to count them."""
    offset_query = workflow.get_query_handler(STREAM_OFFSET_QUERY)
    if offset_query is None:
        raise RuntimeError("the run's WorkflowStream registers no offset query")
    offset: int = offset_query()
    return offset


def _seal_request(state: models.RunCarry) -> SealRequest:
    """The run chain (type, id, first run: stable across continue-as-new, resets and retries; new for
    a new run under a reused id) and the digest of `state` without its seal."""
    info = workflow.info()
    return SealRequest(
        scope=f"{info.workflow_type}/{info.workflow_id}/{info.first_execution_run_id}",
        digest=hashlib.sha256(sealed_text(state).encode()).hexdigest(),
    )


def sealed_text(state: models.RunCarry) -> str:
    """What a seal's digest is over: the state's JSON without its seal, step records in full (as
    runs sealed before the carried JSON left out their defaults wrote them)."""
    return state.model_copy(update={"seal": None}).model_dump_json(context={models.FULL_STEP_RECORDS: True})


@dataclass
class AgentTurn:
    """One turn of an agent loop (`RunContext.agent_turn`)."""

    response: LLMResponse | None = None  # the model's reply; None when the run stopped before asking
    results: list[ToolResultBlock] = field(default_factory=list)  # for the next request's user message
    # "completed", "max_iterations", "budget_exhausted", "tenant_budget_exhausted": the loop ends
    outcome: str | None = None


def _run_scope(action: models.ProposedAction, digest: str) -> tuple[str, ...]:
    """What an approval "for the rest of this run" covers: the tool and its targets' values, or the
    exact call (its hash) when the tool declares no targets."""
    targets = [f"{field.name}={field.value}" for field in action.fields if field.target]
    return (action.name, *targets) if targets else (action.name, digest)


def _check_signature(
    keys: ApproverKeys, decision: models.ApprovalDecision, pending: models.PendingApproval
) -> str | None:
    if decision.expires_at is None:
        return "unsigned decision: this deployment requires signed approvals (APPROVER_KEYS_FILE)"
    fields = decision_fields(
        decision,
        workflow_id=workflow.info().workflow_id,
        action_hash=pending.action_hash,
        expires_at=decision.expires_at,
    )
    return verify_decision(
        keys, signed_by=decision.signed_by, signature=decision.signature, now=workflow.now(), **fields
    )


def _error(message: str) -> ToolObservation:
    return ToolObservation(content=message, is_error=True)


def _cause(error: ActivityError) -> str:
    cause = error.cause
    message = getattr(cause, "message", None) or str(cause or error)
    return str(message)[:500]
