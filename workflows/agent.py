"""AgentWorkflow (ReAct): while the model asks for tools and the iteration cap and budget allow,
one LLM step, then this turn's tool calls concurrently, then their observations back to the model.

- A call of an unknown tool or with arguments its input schema refuses becomes an error observation;
  the model can correct itself, the workflow never crashes on it.
- A side-effect tool runs only after the approval gate approved that exact call (its hash), with an
  idempotency key made here, so retries never repeat it.
- Reaching the cap or the budget ends the run with outcome "max_iterations" / "budget_exhausted"
  (with `pause_on_budget`, the approvers are first asked for a top-up).
- Before the history grows near Temporal's limits the run continues-as-new, carrying the
  conversation, totals, steps and decisions, so nothing is lost and `status` keeps working.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.llm.models import (
        LLMRequest,
        LLMResponse,
        Message,
        ToolResultBlock,
        ToolSpec,
        ToolUseBlock,
    )
    from activities.tools.catalog import TOOLS, ToolDefinition
    from activities.tools.models import SideEffectToolInput, ToolObservation
    from workflows.actions import masked_url, proposed_action
    from workflows.activity_options import DELIVERY, LLM_CALL, TOOL_CALL
    from workflows.approval import ApprovalGate, action_hash
    from workflows.handlers import ApprovalAndStatusHandlers
    from workflows.models import (
        AgentCarryState,
        AgentInput,
        AgentResult,
        ChildProgress,
        ProposedAction,
        StepRecord,
        WorkflowStatus,
    )
    from workflows.progress import RunProgress

AGENT_SYSTEM = (
    "You are a careful agent working towards the user's goal. Call tools when they help; several "
    "independent calls may go in one turn. When you can answer, reply with the answer and no tool call."
)
READ_ONLY_TOOLS = tuple(name for name, tool in TOOLS.items() if not tool.side_effect)
# Keeps the conversation (sent to the model every step, carried across continue-as-new) small.
MAX_OBSERVATION_CHARS = 4000
# Continue-as-new well before Temporal's history warnings (10 240 events / 10 MB).
HISTORY_EVENTS_LIMIT = 8_000
HISTORY_BYTES_LIMIT = 4 * 1024 * 1024


def invalid_input(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidInput", non_retryable=True)


def error_observation(message: str) -> ToolObservation:
    return ToolObservation(content=message, is_error=True)


def describe_validation_error(error: ValidationError) -> str:
    """Field paths and messages only: the model sees what to fix, no input values are echoed."""
    parts = [
        f"{'.'.join(str(part) for part in item['loc']) or 'arguments'}: {item['msg']}"
        for item in error.errors()[:5]
    ]
    return "; ".join(parts)


def select_tools(params: AgentInput) -> dict[str, ToolDefinition]:
    """The tools this run offers the model; a bad list is refused before anything runs."""
    if params.tools is None:
        return {n: t for n, t in TOOLS.items() if not t.side_effect or params.approvers}
    unknown = sorted(set(params.tools) - TOOLS.keys())
    if unknown:
        raise invalid_input(f"unknown tools {unknown}; known tools: {sorted(TOOLS)}")
    needs_approver = sorted(n for n in params.tools if TOOLS[n].side_effect and not params.approvers)
    if needs_approver:
        raise invalid_input(f"tools {needs_approver} need approval: give the run `approvers`")
    return {name: TOOLS[name] for name in params.tools}


def compact_json(arguments: dict[str, Any], limit: int = 300) -> str:
    """A one-line summary of a tool call for step details and sources (not for approvals, which
    show every argument): URL query values and credentials are masked, as they may hold a token."""
    shown = {
        key: masked_url(value) if isinstance(value, str) and "://" in value else value
        for key, value in arguments.items()
    }
    text = ", ".join(f"{key}={value!r}" for key, value in sorted(shown.items()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_internal_fields(params: AgentInput) -> None:
    """`carried` and `report_to_parent` are set by the workflows themselves; from a client they
    would forge state (iterations, spend, decisions) or report to a run that is not a parent."""
    info = workflow.info()
    if params.carried is not None and info.continued_run_id is None:
        raise invalid_input("`carried` is set by the workflow when it continues-as-new; omit it")
    if params.report_to_parent and info.parent is None:
        raise invalid_input("`report_to_parent` is for research child runs only; omit it")


@workflow.defn(name="AgentWorkflow", failure_exception_types=[ValidationError])
class AgentWorkflow(ApprovalAndStatusHandlers):
    @workflow.init
    def __init__(self, params: AgentInput) -> None:
        carried = params.carried
        status = WorkflowStatus(phase="running", budget_usd=params.budget_usd)
        if carried is not None:
            status = WorkflowStatus(
                phase="running",
                iteration=carried.iteration,
                usage=carried.usage,
                cost_usd=carried.cost_usd,
                completed_steps=list(carried.steps),
                budget_usd=carried.budget_usd,
                decisions=list(carried.decisions),
                runs=carried.runs,
            )
        self._params = params
        # The stream's log carries over continue-as-new, so a watcher's offset stays valid.
        self._progress = RunProgress(status, WorkflowStream(carried.stream_state if carried else None))
        self._gate = ApprovalGate(params, self._progress)
        self._messages: list[Message] = (
            list(carried.messages) if carried else [Message.user_text(params.goal)]
        )
        self._sources: list[str] = list(carried.sources) if carried else []
        self._iterations_this_run = 0
        self._one_approval_at_a_time = asyncio.Lock()
        self._parent_reports: list[asyncio.Task[None]] = []
        self._tools: dict[str, ToolDefinition] = {}  # chosen in `run`, where a bad list can fail the run
        self._tool_specs: list[ToolSpec] = []

    @workflow.run
    async def run(self, params: AgentInput) -> AgentResult:
        check_internal_fields(params)
        self._tools = select_tools(params)
        self._tool_specs = [tool.spec() for tool in self._tools.values()]
        status = self._progress.status
        if params.carried is None:
            self._progress.announce_approvers(params.approvers)
        self._progress.publish()

        answer = ""
        while True:
            outcome = self._limit_reached()
            if outcome == "budget_exhausted" and params.pause_on_budget and self._gate.can_approve:
                if await self._ask_for_top_up():
                    continue
            if outcome is not None:
                break
            if self._should_continue_as_new():
                await self._continue_as_new()
            response = await self._think()
            answer = response.text() or answer
            calls = response.tool_calls()
            if not calls:
                outcome = "completed"
                break
            if status.iteration >= params.max_iterations:
                outcome = "max_iterations"  # the calls of a turn that cannot be followed up are not run
                break
            self._messages.append(Message(role="user", content=list(await self._act(calls))))

        await self._settle_parent_reports()
        status.outcome = outcome
        self._progress.set_phase("completed")
        await self._progress.close_stream()
        if outcome != "completed" or not answer:
            answer = answer or f"No final answer: the run stopped ({outcome}) after {status.iteration} steps."
        return AgentResult(
            goal=params.goal,
            answer=answer,
            outcome=outcome,
            iterations=status.iteration,
            steps=status.completed_steps,
            usage=status.usage,
            cost_usd=status.cost_usd,
            sources=self._sources,
            decisions=status.decisions,
            runs=status.runs,
        )

    # -- one ReAct turn ------------------------------------------------------------------------------

    def _llm_request(self, step: int) -> LLMRequest:
        """The model's input, built from the run's state. The one place that decides what the model
        sees each step. The whole transcript goes in every request, yet history does not grow with
        it: the converter's payload store (common/payload_store.py) keeps a big request out of
        history as a reference and stores each message once, so each step adds only what is new."""
        return LLMRequest(
            model=self._params.model,
            system=AGENT_SYSTEM,
            messages=self._messages,
            tools=self._tool_specs,
            step_kind="agent",
            step=f"llm step {step}",
        )

    async def _think(self) -> LLMResponse:
        status = self._progress.status
        status.iteration += 1
        self._iterations_this_run += 1
        self._progress.set_phase("running")
        step = status.iteration
        response: LLMResponse = await workflow.execute_activity(
            "llm.complete",
            self._llm_request(step),
            result_type=LLMResponse,
            summary=f"llm {self._params.model or 'default model'} step {step}",
            **LLM_CALL.kwargs(),
        )
        self._progress.record_llm(f"llm step {step}", response)
        self._messages.append(Message(role="assistant", content=response.content))
        self._report_to_parent()
        return response

    async def _act(self, calls: list[ToolUseBlock]) -> list[ToolResultBlock]:
        self._progress.set_phase("calling_tools")
        step = self._progress.status.iteration
        return await asyncio.gather(*(self._call(call, step, i) for i, call in enumerate(calls)))

    async def _call(self, call: ToolUseBlock, step: int, index: int) -> ToolResultBlock:
        observation = await self._observe(call, step)
        content = observation.content
        if len(content) > MAX_OBSERVATION_CHARS:
            content = content[:MAX_OBSERVATION_CHARS] + f"\n[truncated {len(content)} chars]"
        described = f"{call.name}({compact_json(call.input)})"
        self._progress.record(
            StepRecord(
                step=f"tool {step}.{index + 1} {call.name}",
                kind="tool",
                ok=not observation.is_error,
                detail=(observation.content[:300] if observation.is_error else described),
            )
        )
        if not observation.is_error and described not in self._sources:
            self._sources.append(described)
        return ToolResultBlock(tool_use_id=call.id, content=content, is_error=observation.is_error)

    async def _observe(self, call: ToolUseBlock, step: int) -> ToolObservation:
        tool = self._tools.get(call.name)
        if tool is None:
            return error_observation(f"unknown tool {call.name!r}; available tools: {sorted(self._tools)}")
        try:
            arguments = tool.input_model.model_validate(call.input)
        except ValidationError as error:
            return error_observation(f"invalid arguments for {call.name}: {describe_validation_error(error)}")
        if tool.side_effect:
            return await self._side_effect(tool, arguments.model_dump(mode="json"), step)
        try:
            observation: ToolObservation = await workflow.execute_activity(
                tool.activity_name,
                arguments,
                result_type=ToolObservation,
                summary=f"tool {tool.name}",
                **TOOL_CALL.kwargs(),
            )
        except ActivityError as error:
            return error_observation(f"{tool.name} failed: {_cause(error)}")
        return observation

    async def _side_effect(
        self, tool: ToolDefinition, arguments: dict[str, Any], step: int
    ) -> ToolObservation:
        digest = action_hash(tool.name, arguments)
        async with self._one_approval_at_a_time:
            decision = await self._gate.request(proposed_action("tool", tool.name, arguments), digest)
        if not decision.approved:
            return error_observation(f"rejected by {decision.approver}: {decision.comment}")
        # Stable across retries, resets and continue-as-new: the same call in the same step has the same key.
        key = f"{workflow.info().workflow_id}/step-{step}/{tool.name}-{digest[:16]}"
        try:
            observation: ToolObservation = await workflow.execute_activity(
                tool.activity_name,
                SideEffectToolInput(arguments=arguments, idempotency_key=key),
                result_type=ToolObservation,
                summary=f"tool {tool.name}",
                **DELIVERY.kwargs(),
            )
        except ActivityError as error:
            return error_observation(f"{tool.name} failed: {_cause(error)}")
        return observation

    # -- limits, budget top-up, continue-as-new ------------------------------------------------------

    def _limit_reached(self) -> str | None:
        if self._progress.status.iteration >= self._params.max_iterations:
            return "max_iterations"
        if self._progress.budget_spent():
            return "budget_exhausted"
        return None

    async def _ask_for_top_up(self) -> bool:
        status = self._progress.status
        spent, budget = self._progress.cost_usd, status.budget_usd or 0.0
        step = self._params.budget_usd or 0.0
        action = ProposedAction(
            kind="budget_top_up",
            name="budget",
            title=(
                f"Raise the budget: ${spent:.6f} spent of ${budget:.6f} after {status.iteration} steps. "
                f"Approve with `budget_usd` (the new total), or without it to add ${step:.6f}."
            ),
        )
        decision = await self._gate.request(
            action, action_hash("budget_top_up", {"spent": round(spent, 9), "budget": budget})
        )
        new_budget = decision.budget_usd or budget + step
        if not decision.approved or new_budget <= spent:
            return False
        status.budget_usd = new_budget
        return True

    def _should_continue_as_new(self) -> bool:
        if self._iterations_this_run == 0:
            return False  # every run makes progress
        info = workflow.info()
        every = self._params.continue_as_new_after_iterations
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > HISTORY_EVENTS_LIMIT
            or info.get_current_history_size() > HISTORY_BYTES_LIMIT
            or (every is not None and self._iterations_this_run >= every)
        )

    async def _continue_as_new(self) -> None:
        await self._settle_parent_reports()
        # No update or signal handler may be cut off (an approval in flight would be lost); the
        # stream's pollers are released first, and follow the run to its next one.
        await self._progress.close_stream()
        status = self._progress.status
        carried = AgentCarryState(
            messages=self._messages,
            iteration=status.iteration,
            usage=status.usage,
            cost_usd=status.cost_usd,
            budget_usd=status.budget_usd,
            steps=status.completed_steps,
            decisions=status.decisions,
            sources=self._sources,
            runs=status.runs + 1,
            stream_state=self._progress.stream.get_state(),
        )
        workflow.continue_as_new(self._params.model_copy(update={"carried": carried}))

    # -- deep research: live totals to the parent ------------------------------------------------

    def _report_to_parent(self) -> None:
        parent = workflow.info().parent
        if not self._params.report_to_parent or parent is None:
            return
        status = self._progress.status
        progress = ChildProgress(
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


def _cause(error: ActivityError) -> str:
    cause = error.cause
    message = getattr(cause, "message", None) or str(cause or error)
    return str(message)[:500]
