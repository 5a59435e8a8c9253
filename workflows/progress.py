"""A run's progress as the outside sees it: the `status` query's model, the steps, usage and cost
totals (children included), and the search attributes the Web UI and `temporal workflow list` read.

Workflow code only: deterministic, no I/O. Search attributes are upserted sparingly (see `publish`):
each upsert is a history event and an index write on the server, which per step was the largest
part of the product's per-step overhead (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.contrib.workflow_streams import WorkflowStream

with workflow.unsafe.imports_passed_through():
    from common.contracts.llm import LLMResponse, SpentUsage
    from common.search_attributes import APPROVERS, COST_USD, PHASE, TENANT
    from workflows.models import ChildProgress, StepRecord, WorkflowStatus
    from workflows.patches import patched_since
    from workflows.stream_topics import PHASE_TOPIC, STEPS_TOPIC


__all__ = ["RunProgress"]

SPARSE_SEARCH_ATTRIBUTES = "sparse-search-attributes"  # workflow.patched id
# Workflow types with runs recorded before sparse upserts: only they need the patch check (and the
# history marker it writes); newer types always upsert sparsely.
PRE_SPARSE_TYPES = frozenset({"ResearchWorkflow", "AgentWorkflow"})
SEARCH_PHASE = {"calling_tools": "running"}  # AiPhase of a fine-grained phase
# A session's turns (idle -> thinking -> calling_tools -> idle, every turn) are one AiPhase, "open":
# their two upserts a turn cost the dev server more CPU than the rest of the turn (docs/benchmarks.md,
# Sessions). Sessions recorded before replay as they ran (workflow.patched).
SESSION_TYPES = frozenset({"SessionWorkflow"})
SESSION_SEARCH_PHASE = {"idle": "open", "thinking": "open", "calling_tools": "open"}
COARSE_SESSION_PHASES = "coarse-session-phases"  # workflow.patched id
COST_UPSERT_INTERVAL = timedelta(minutes=1)  # of workflow time, between cost-only upserts


class RunProgress:
    def __init__(self, status: WorkflowStatus, stream: WorkflowStream) -> None:
        self.status = status
        # The run's Workflow Stream (made in the workflow's @workflow.init): phases and finished
        # steps for `starter.watch`. Publishing only appends to the run's memory; a watcher's polls
        # are what reach the history.
        self.stream = stream
        self._phases = stream.topic(PHASE_TOPIC, type=str)
        self._steps = stream.topic(STEPS_TOPIC, type=StepRecord)
        self._streamed_phase: str | None = None
        # Own steps are in status.usage/cost_usd already; running children report here until they
        # finish, then their final totals become one "child" step.
        self._children: dict[str, ChildProgress] = {}
        self._published: tuple[str, float] | None = None
        self._published_at = datetime.min

    # -- totals --------------------------------------------------------------------------------

    @property
    def cost_usd(self) -> float:
        """Everything spent so far, running children included: what the budget is checked against."""
        return self.status.cost_usd + sum(child.cost_usd for child in self._children.values())

    def budget_spent(self) -> bool:
        budget = self.status.budget_usd
        return budget is not None and self.cost_usd >= budget

    def record_llm(self, step: str, response: LLMResponse) -> StepRecord:
        """A model call's step: every attempt's tokens and cost (the answering one's and the failed
        ones', all billed), with the failed ones' share beside them."""
        return self.record(
            StepRecord(
                step=step,
                kind="llm",
                model=response.model,
                **(response.usage + response.retried_usage).model_dump(),
                latency_ms=response.latency_ms,
                cost_usd=response.cost_usd,
                retried_input_tokens=response.retried_usage.input_tokens,
                retried_output_tokens=response.retried_usage.output_tokens,
                retried_attempts=response.retried_attempts,
                priced=response.priced,
            )
        )

    def record_failed_llm(self, step: str, model: str | None, spent: SpentUsage | None) -> StepRecord:
        """A model call that failed for good still cost what its attempts used (from the failure)."""
        spent = spent or SpentUsage()
        return self.record(
            StepRecord(
                step=step,
                kind="llm",
                model=model,
                ok=False,
                **spent.usage.model_dump(),
                cost_usd=spent.cost_usd,
                retried_input_tokens=spent.usage.input_tokens,
                retried_output_tokens=spent.usage.output_tokens,
                retried_attempts=spent.attempts,
                priced=spent.priced,
            )
        )

    def record(self, record: StepRecord) -> StepRecord:
        self.status.completed_steps.append(record)
        self.status.usage = self.status.usage + record.usage
        self.status.cost_usd += record.cost_usd
        self._steps.publish(record)
        self.publish()
        return record

    def child_running(self, progress: ChildProgress) -> None:
        """A running child's totals so far (cumulative, so a late or repeated report is harmless)."""
        known = self._children.get(progress.child_id)
        if known is None or progress.steps >= known.steps:
            self._children[progress.child_id] = progress
            self.publish()

    def child_finished(self, child_id: str, record: StepRecord) -> None:
        """A child ended: its final totals become one step of this run (its last report if it failed)."""
        last = self._children.pop(child_id, None)
        if not record.ok and last is not None and record.cost_usd == 0:
            record = record.model_copy(update={"cost_usd": last.cost_usd, **last.usage.model_dump()})
        self.record(record)

    def snapshot(self) -> WorkflowStatus:
        """The status with running children's totals added (what the `status` query returns)."""
        if not self._children:
            return self.status
        usage = self.status.usage
        for child in self._children.values():
            usage = usage.plus(child.usage)
        return self.status.model_copy(update={"usage": usage, "cost_usd": self.cost_usd})

    # -- phase and search attributes -------------------------------------------------------------

    def set_phase(self, phase: str) -> None:
        self.status.phase = phase
        if phase != self._streamed_phase:
            self._streamed_phase = phase
            self._phases.publish(phase)
        self.publish()

    async def close_stream(self) -> None:
        """Before the run returns or continues-as-new: release the stream's pollers (a watcher's
        next poll goes to the next run, or sees the run closed) and let every handler finish."""
        self.stream.detach_pollers()
        await workflow.wait_condition(workflow.all_handlers_finished)

    def announce_approvers(self, approvers: list[str]) -> None:
        if approvers:
            workflow.upsert_search_attributes([APPROVERS.value_set(sorted(approvers))])

    def announce(self, approvers: list[str], tenant: str) -> None:
        """A run's start in one upsert (a run of the current generation, workflows/patches.py): its
        tenant, its approvers (if any), its phase and cost, where a run before took one upsert each."""
        announced: list[SearchAttributeUpdate[Any]] = [TENANT.value_set(tenant)]
        if approvers:
            announced.append(APPROVERS.value_set(sorted(approvers)))
        self._upsert(workflow.info().workflow_type, announced)

    def publish(self) -> None:
        """Upsert AiPhase/AiCostUsd when the phase changes, and the cost alone at most once a minute
        of workflow time while it grows: a step's upsert is an index write on the server, which cost
        it more than the rest of the step (docs/benchmarks.md). AiCostUsd is at most a minute behind
        a running run's cost and exact once the run ends (the last phase change). The agent's per-step
        running <-> calling_tools alternation is "running" here; `status` and the run's stream keep
        the detail."""
        workflow_type = workflow.info().workflow_type
        legacy = workflow_type in PRE_SPARSE_TYPES
        if legacy and not patched_since(SPARSE_SEARCH_ATTRIBUTES):
            self._publish_every_change()  # runs started before this change replay as they ran
            return
        self._upsert(workflow_type)

    def _upsert(self, workflow_type: str, announced: Sequence[SearchAttributeUpdate[Any]] = ()) -> None:
        """AiPhase/AiCostUsd when they changed as `publish` says (always with `announced`)."""
        phase = self._search_phase(workflow_type)
        cost = round(self.cost_usd, 6)
        now = workflow.now()
        if self._published is not None and not announced:
            published_phase, published_cost = self._published
            recent = now - self._published_at < COST_UPSERT_INTERVAL
            if phase == published_phase and (cost == published_cost or recent):
                return
        self._published, self._published_at = (phase, cost), now
        workflow.upsert_search_attributes([*announced, PHASE.value_set(phase), COST_USD.value_set(cost)])

    def _search_phase(self, workflow_type: str) -> str:
        phase = self.status.phase
        session = phase in SESSION_SEARCH_PHASE and workflow_type in SESSION_TYPES
        if session and patched_since(COARSE_SESSION_PHASES):
            return SESSION_SEARCH_PHASE[phase]
        return SEARCH_PHASE.get(phase, phase)

    def _publish_every_change(self) -> None:
        current = (self.status.phase, round(self.cost_usd, 6))
        if current == self._published:
            return
        self._published = current
        workflow.upsert_search_attributes([PHASE.value_set(current[0]), COST_USD.value_set(current[1])])
