"""AnswerWorkflow: the sequential pipeline — retrieve -> generate a structured answer -> validate ->
re-ask with the validation errors (at most `max_reasks` times) -> optional approval and delivery.

Each step is checkpointed in history: a crash after retrieval resumes at generation without
retrieving again, and a crash during a re-ask keeps the earlier attempts.

- Validation (`activities.retrieval.grounding.check_answer`): the reply parses into
  `GeneratedAnswer`; every citation names a retrieved passage; every quote is in that passage.
- Outcome: "grounded" (valid), "unverified" (still invalid after the last re-ask, with `reasons`),
  "no_answer" (nothing relevant was retrieved, or the model said the passages do not answer),
  "tenant_budget_exhausted" (the tenant's budget refused a model call: the reason in `reasons`,
  nothing delivered).
- With `approvers` an answer waits for a decision before delivery; `deliver_to` is checked first.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.kit import (
        ANSWER_SYSTEM,
        Citation,
        GeneratedAnswer,
        Passage,
        RetrieveRequest,
        answer_prompt,
        check_answer,
        citations_of,
        reask_prompt,
        retrieve,
    )
    from workflows.index import CORPUS_NAME
    from workflows.kit import (
        TENANT_BUDGET_EXHAUSTED_OUTCOME,
        TOOL_CALL,
        DeliveryReceipt,
        KitInput,
        KitWorkflow,
        LLMRequest,
        Message,
        RunContext,
        TextBlock,
        approve_and_deliver,
        delivery_channel,
    )
    from workflows.models import ApprovalRecord, NonBlank, StepRecord, UsageTotals

__all__ = ["AnswerInput", "AnswerResult", "AnswerWorkflow", "answer_report"]

RESPONSE_SCHEMA = GeneratedAnswer.model_json_schema()


class AnswerInput(KitInput):
    question: NonBlank = Field(min_length=1, max_length=4000)
    corpus: str = Field(default="default", pattern=CORPUS_NAME)
    top_k: int = Field(default=5, ge=1, le=50)
    max_reasks: int = Field(default=2, ge=0, le=10)
    deliver_to: str | None = None
    max_tokens: int = Field(default=1024, gt=0, le=64_000)


class AnswerResult(BaseModel):
    question: str
    answer: str = ""
    citations: list[Citation] = Field(default_factory=list)
    outcome: str = "no_answer"  # "grounded", "unverified", "no_answer", "tenant_budget_exhausted"
    reasons: list[str] = Field(default_factory=list)  # why the last reply was not grounded
    reasks: int = 0
    passages: list[str] = Field(default_factory=list)  # the retrieved passage ids, best first
    # With approvers or a delivery target: "completed", "rejected" or "delivery_failed".
    delivery_outcome: str | None = None
    approval: ApprovalRecord | None = None
    delivery: DeliveryReceipt | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    cost_usd: float = 0.0
    tenant: str = "default"


def answer_report(result: AnswerResult) -> str:
    """The answer as a reviewer and a delivery see it: the text, then each citation."""
    lines = [result.answer or "No answer: the corpus holds nothing that answers the question.", ""]
    if result.reasons:
        lines += ["Not verified:", *(f"- {reason}" for reason in result.reasons), ""]
    lines += [f'[{n}] {c.source} ({c.passage_id}): "{c.quote}"' for n, c in enumerate(result.citations, 1)]
    return "\n".join(lines).strip()


@workflow.defn(name="AnswerWorkflow", failure_exception_types=[ValidationError])
class AnswerWorkflow(KitWorkflow):
    @workflow.init
    def __init__(self, params: AnswerInput) -> None:
        # One phase, "running", for retrieval, generation and re-asks (the steps say which): each
        # phase change is a search-attribute write on the server, which cost this short run more
        # than its orchestration did (bench/answer.py).
        self.ctx = RunContext(params, phase="running")

    @workflow.run
    async def run(self, params: AnswerInput) -> AnswerResult:
        ctx = self.ctx
        delivery_channel(params.deliver_to)  # a bad target fails the run before any step
        ctx.announce_approvers()
        ctx.set_phase("running")
        passages: list[Passage] = await workflow.execute_activity(
            retrieve,
            RetrieveRequest(corpus=params.corpus, question=params.question, top_k=params.top_k),
            summary=f"retrieve from {params.corpus}: {params.question[:80]}",
            **TOOL_CALL.kwargs(),
        )
        ctx.record(
            StepRecord(
                step="retrieve",
                kind="retrieval",
                detail=f"{len(passages)} passages from corpus {params.corpus}: "
                + ", ".join(p.passage_id for p in passages)[:250],
            )
        )
        result = AnswerResult(
            question=params.question, passages=[p.passage_id for p in passages], tenant=params.tenant
        )
        if passages:
            try:
                await self._generate(params, passages, result)
            except ActivityError:
                if ctx.tenant_refusal is None:
                    raise
                result.outcome, result.reasons = TENANT_BUDGET_EXHAUSTED_OUTCOME, [ctx.tenant_refusal]
        answered = result.outcome in ("grounded", "unverified")
        if answered and (params.approvers or params.deliver_to):
            delivered = await approve_and_deliver(
                ctx,
                what="the answer",
                report=answer_report(result),
                deliver_to=params.deliver_to,
                subject=f"Answer: {params.question[:150]}",
                shown={"question": params.question, "outcome": result.outcome},
                data={
                    "workflow_id": workflow.info().workflow_id,
                    "question": params.question,
                    "answer": result.answer,
                    "citations": [c.model_dump() for c in result.citations],
                    "outcome": result.outcome,
                    "cost_usd": ctx.cost_usd,
                },
            )
            result.delivery_outcome = delivered.outcome
            result.approval, result.delivery = delivered.approval, delivered.receipt
        await ctx.finish(result.outcome)
        return result.model_copy(update=ctx.totals())

    async def _generate(self, params: AnswerInput, passages: list[Passage], result: AnswerResult) -> None:
        """Generate, validate, re-ask with the reasons until the answer is grounded or the re-asks
        (or the budget) run out."""
        ctx = self.ctx
        messages = [Message.user_text(answer_prompt(params.question, passages))]
        for attempt in range(params.max_reasks + 1):
            step = "generate" if attempt == 0 else f"re-ask {attempt}"
            response = await ctx.llm(
                LLMRequest(
                    system=ANSWER_SYSTEM,
                    messages=messages,
                    response_schema=RESPONSE_SCHEMA,
                    max_tokens=params.max_tokens,
                    step_kind="answer",
                    step=step,
                )
            )
            reply = response.text()
            answer, reasons = check_answer(reply, passages)
            ctx.record(
                StepRecord(
                    step=f"validate {attempt + 1}",
                    kind="validation",
                    ok=not reasons,
                    detail="; ".join(reasons)[:300] if reasons else "grounded",
                )
            )
            result.reasks, result.reasons = attempt, reasons
            if answer is not None:
                result.answer, result.citations = answer.answer, citations_of(answer, passages)
            if not reasons:
                result.outcome = "no_answer" if answer is not None and answer.no_answer else "grounded"
                if result.outcome == "no_answer":
                    result.answer, result.citations = "", []
                return
            result.outcome = "unverified"
            if ctx.budget_spent():
                result.reasons = [*reasons, "budget spent: no further re-ask"]
                return
            messages += [
                Message(role="assistant", content=[TextBlock(text=reply or "(empty reply)")]),
                Message.user_text(reask_prompt(reasons)),
            ]
