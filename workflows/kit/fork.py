"""A forked run's steps before its fork point (`KitInput.fork_from`): each LLM step, tool call,
approval and delivery that the source run made before step N takes the source's recorded result
(`fork.recorded_steps`, read by the worker from Temporal) instead of running again — no model
request, no tool call, no delivery, nobody asked twice — and is recorded as a reused step that costs
the fork nothing. From step N on the run is live.

A recorded step is found by its kind and name (names are unique in a run chain). A step the fork
makes before N that the source did not make (the workflow code or the patched input took another
path) ends the run at once with `InvalidInput` naming the step.

Workflow code only: the source is read by an activity.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.fork import ForkActivities, RecordedStep, RecordedSteps, tool_of_step
    from common.contracts.delivery import DeliveryReceipt
    from common.contracts.llm import LLMResponse
    from common.contracts.runs import ApprovalRecord, ForkFrom, StepRecord, invalid_input
    from common.contracts.sessions import SendRequest
    from common.contracts.tools import ToolObservation
    from common.search_attributes import FORK_OF
    from workflows.activity_options import liveness_options
    from workflows.kit.eval_mode import SIMULATED
    from workflows.progress import RunProgress

__all__ = ["ForkReplay"]

# Reading a long source's histories may take a while; retried while the frontend is unreachable.
FORK_LOAD = liveness_options(timedelta(minutes=2), timedelta(minutes=10))
# How long a reused step waits for the steps numbered before it (live children may take a while).
ORDER_TIMEOUT = timedelta(hours=1)
# The steps a fork can reuse: what the source's own activities made, and the approvals it recorded.
REUSABLE_KINDS = frozenset({"llm", "tool", "delivery", "approval"})
# The steps an approval may let run: never live under an approval the source was given.
SIDE_EFFECT_KINDS = frozenset({"tool", "delivery"})


class ForkReplay:
    """The recorded steps of a forked run's source, taken once each (`take`)."""

    def __init__(self, fork_from: ForkFrom | None, progress: RunProgress, *, eval_mode: bool = False) -> None:
        self.fork_from = fork_from
        self._progress = progress
        self._eval_mode = eval_mode  # this run's: only an eval run may reuse a simulated side effect
        # The approval each task (a tool call of a turn, the delivery) just took from the source,
        # until that task's next step: the side effect it approved must be reused too, never
        # performed a second time under the one approval.
        self._approved: dict[asyncio.Task[object] | None, RecordedStep] = {}
        self._recorded: dict[tuple[str, str], RecordedStep] | None = None
        self._source_kinds: dict[int, str] = {}  # the source's step kinds by number, before N
        self._messages: list[SendRequest] = []
        self._loading: asyncio.Lock | None = None
        self._live_started = 0  # live steps started before N (concurrent calls: not yet recorded)
        self._steps_at_load = 0
        self.reused: set[str] = set()  # the steps this run took from the source

    async def take(self, kind: str, step: str) -> RecordedStep | None:
        """The source's recorded `step` when this run reuses it (the caller records it with
        `record`, or as its own step marked reused); None: the step runs live."""
        if self.fork_from is None:
            return None
        await self._load()
        assert self._recorded is not None
        approval = self._approved.pop(asyncio.current_task(), None)
        found = self._recorded.pop((kind, step), None)
        if found is None and approval is not None and _gates(approval, kind, step):
            raise invalid_input(
                f"fork: step {approval.number} {approval.record.step!r} of the source approved a side effect "
                f"that this run would perform again ({step!r}); fork from step {approval.number} to ask again"
            )
        if found is not None:
            if not self._eval_mode and found.record.detail.startswith(SIMULATED):
                raise invalid_input(
                    f"fork: step {found.number} {step!r} was only simulated in the source (an eval run), "
                    f"never performed; fork from step {found.number} to perform it"
                )
            await self._in_source_order(found)
            self.reused.add(step)
            return found
        self._check_same_path(kind, step)
        self._live_started += 1
        return None

    async def messages(self) -> list[SendRequest]:
        """A forked session's messages: the source's, of its turns up to the one holding the fork
        point, read from its history by the worker; the session takes them as queued, in order."""
        if self.fork_from is None:
            return []
        await self._load()
        return self._messages

    async def refuse_if_ran(self, kind: str, step: str, why: str) -> None:
        """A step this run ends without running, which the source ran before the fork point: another
        path (the patched input or the code changed what happens here)."""
        if self.fork_from is None:
            return
        await self._load()
        assert self._recorded is not None
        recorded = self._recorded.get((kind, step))
        if recorded is not None and recorded.activity is not None:
            raise invalid_input(
                f"fork: step {recorded.number} {step!r} ran in the source run; this run {why} "
                "(the workflow or the patched input took another path)"
            )

    def reused_llm(self, recorded: RecordedStep) -> LLMResponse:
        """The source's model reply (recorded as this run's step, at no cost)."""
        if recorded.result is None:
            self.record(recorded)
            raise ApplicationError(
                f"fork: the source's step {recorded.record.step!r} failed: {recorded.failure or 'no reply'}",
                non_retryable=True,
            )
        response = LLMResponse.model_validate(recorded.result)
        self.record(recorded, detail=self._reused_detail(recorded))
        return response

    def reused_observation(self, recorded: RecordedStep) -> ToolObservation:
        """The source's tool result (the caller records the step; `reused` marks it)."""
        if recorded.result is not None:
            return ToolObservation.model_validate(recorded.result)
        name = recorded.record.step.split(" ", 2)[-1]
        if recorded.failure is not None:
            return ToolObservation(content=f"{name} failed: {recorded.failure}", is_error=True)
        # No activity ran (refused, simulated): the source's step kept what the model read.
        return ToolObservation(content=recorded.record.detail, is_error=not recorded.record.ok)

    async def reused_decision(self, decisions: list[ApprovalRecord], digest: str) -> ApprovalRecord | None:
        """The source's next approval decision, when it was before the fork point: taken into this
        run's decisions and steps, nobody is asked. Only for the action it decided (`digest`, its
        `action_hash`): a patched input that changes the action (another delivery target) never
        carries an approval over to it."""
        recorded = await self.take("approval", f"approval {len(decisions) + 1}")
        if recorded is None:
            return None
        if recorded.decision is None:
            raise invalid_input(f"fork: the source's {recorded.record.step!r} has no recorded decision")
        if recorded.decision.action_hash != digest:
            raise invalid_input(
                f"fork: step {recorded.number} {recorded.record.step!r} of the source approved another "
                f"action than this run asks for (the patched input changed it); fork from step "
                f"{recorded.number} to ask again"
            )
        decision = recorded.decision
        if decision.for_run:  # "for the rest of the run" was the source's run: this one asks again
            decision = decision.model_copy(update={"for_run": False})
        decisions.append(decision)
        self.record(recorded)
        if decision.approved:
            self._approved[asyncio.current_task()] = recorded
        return decision

    def reused_delivery(self, recorded: RecordedStep) -> DeliveryReceipt | None:
        """The source's delivery receipt (None: its delivery failed); recorded, never sent again."""
        self.record(recorded, detail=self._reused_detail(recorded))
        if recorded.result is None:
            return None
        return DeliveryReceipt.model_validate(recorded.result)

    def _reused_detail(self, recorded: RecordedStep) -> str:
        fork = self.fork_from
        assert fork is not None
        origin = f"reused: step {recorded.number} of {fork.workflow_id}/{fork.run_id}"
        return f"{origin}; {recorded.record.detail}" if recorded.record.detail else origin

    def record(self, recorded: RecordedStep, **update: object) -> StepRecord:
        """Records the source's step as this run's, reused: its own cost and tokens are 0."""
        return self._progress.record(self.reused_record(recorded.record, **update))

    def reused_record(self, record: StepRecord, **update: object) -> StepRecord:
        fork = self.fork_from
        assert fork is not None
        zero = {
            name: 0 for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
        }
        return record.model_copy(
            update={
                **zero,
                "latency_ms": 0.0,
                "cost_usd": 0.0,
                "retried_input_tokens": 0,
                "retried_output_tokens": 0,
                "retried_attempts": 0,
                "reused": True,
                **update,
            }
        )

    async def _in_source_order(self, found: RecordedStep) -> None:
        """Concurrent steps (a research fan-out, a turn's tool calls) are recorded in the order the
        source's ended, so every step keeps its source's number: a step waits for those before it."""
        completed = self._progress.status.completed_steps
        if found.number <= len(completed) + 1:
            return
        try:
            await workflow.wait_condition(lambda: found.number <= len(completed) + 1, timeout=ORDER_TIMEOUT)
        except TimeoutError:
            raise invalid_input(
                f"fork: step {found.number} {found.record.step!r} waited for steps before it that this run "
                "did not make (the workflow or the patched input took another path)"
            ) from None

    def _check_same_path(self, kind: str, step: str) -> None:
        """A step the source did not make before N, while the fork is still before N: another path."""
        fork = self.fork_from
        assert fork is not None
        status = self._progress.status
        in_flight = self._live_started - sum(
            1
            for record in status.completed_steps[self._steps_at_load :]
            if record.kind in REUSABLE_KINDS and not record.reused
        )
        position = len(status.completed_steps) + max(in_flight, 0) + 1
        if position >= fork.step:
            return
        source_kind = self._source_kinds.get(position)
        if in_flight > 0 and source_kind == kind:
            return  # concurrent calls end in another order than the source's: the same turn
        raise invalid_input(
            f"fork: step {position} is {kind} {step!r}, which the source run did not make before "
            f"step {fork.step} (the workflow or the patched input took another path)"
        )

    async def _load(self) -> None:
        if self._recorded is not None:
            return
        if self._loading is None:
            self._loading = asyncio.Lock()
        async with self._loading:
            if self._recorded is not None:
                return
            fork = self.fork_from
            assert fork is not None
            info = workflow.info()
            workflow.upsert_search_attributes([FORK_OF.value_set(fork.label())])
            workflow.upsert_memo({"forked_from": fork.model_dump()})
            status = self._progress.status
            status.forked_from = fork
            self._steps_at_load = len(status.completed_steps)
            if self._steps_at_load + 1 >= fork.step and info.continued_run_id is not None:
                self._recorded = {}  # a later run of the fork, past its fork point
                return
            try:
                source: RecordedSteps = await workflow.execute_activity_method(
                    ForkActivities.recorded_steps,
                    fork,
                    summary=f"fork of {fork.label()}",
                    **FORK_LOAD.kwargs(),
                )
            except ActivityError as error:
                cause = error.cause
                raise invalid_input(str(getattr(cause, "message", None) or cause or error)[:500]) from None
            if source.workflow_type != info.workflow_type:
                raise invalid_input(
                    f"fork: the source run is a {source.workflow_type}, not a {info.workflow_type}"
                )
            taken = {record.step for record in status.completed_steps if record.reused}
            self._source_kinds = {step.number: step.record.kind for step in source.steps}
            self._messages = source.messages
            self._recorded = {
                (step.record.kind, step.record.step): step
                for step in source.steps
                if step.record.kind in REUSABLE_KINDS and step.record.step not in taken
            }


def _gates(approval: RecordedStep, kind: str, step: str) -> bool:
    """Whether the step is the side effect `approval` approved: a call of the tool it names, or a
    delivery (a step of another kind or tool, e.g. a read-only lookup after a plan's approval, is not)."""
    if kind not in SIDE_EFFECT_KINDS:
        return False
    proposed = approval.decision.proposed if approval.decision is not None else None
    if proposed is None or proposed.kind not in SIDE_EFFECT_KINDS:
        return proposed is None  # an old record that does not say what it approved: assume this
    return proposed.kind == kind and (kind == "delivery" or tool_of_step(step) == proposed.name)
