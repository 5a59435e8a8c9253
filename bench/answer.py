"""The grounded-answer figures: index throughput (passages per second) and answer latency with a
zero-latency model, the product's `IndexWorkflow` / `AnswerWorkflow` next to the same calls written
directly on the SDK (scan + the same batches; retrieve + one model call + the same validation).

Both sides call the same activities (the offline model: no latency, a grounded reply; the same
SQLite index file) on workers of their own, so the difference is the orchestration: the kit's run
context, status, stream and search attributes against a bare workflow."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

# Passed through: the workflow sandbox re-imports this module to check the baseline workflows, and
# the harness's modules touch the file system when imported.
with workflow.unsafe.imports_passed_through():
    from activities.kit import (
        ANSWER_SYSTEM,
        BatchRequest,
        BatchResult,
        Passage,
        RetrieveRequest,
        ScanRequest,
        ScanResult,
        answer_prompt,
        check_answer,
        index_batch,
        retrieve,
        scan_corpus,
    )
    from activities.llm.activity import LLMActivities
    from bench.figures import Figure, Sizes, count_into, in_turn, new_id, sides
    from bench.harness import Bench
    from bench.workers import bench_settings
    from common.contracts.llm import LLMRequest, LLMResponse, Message
    from worker.app import build_worker
    from workflows.activity_options import LLM_CALL, TOOL_CALL
    from workflows.answer import RESPONSE_SCHEMA, AnswerInput, AnswerResult
    from workflows.index import INDEX_WRITE, IndexInput, IndexResult

PRODUCT_QUEUE = "bench-answer-product"
BASELINE_QUEUE = "bench-answer-baseline"
QUESTION = "How often does the Caldera harbour beacon flash?"
FACT = "The Caldera harbour beacon flashes green every four seconds."
_FILLER = (
    "tide kelp otter reef current shoal dune marsh estuary lagoon gull heron pier jetty buoy anchor "
    "keel hull mast sail rope knot chart compass sextant tiller rudder ballast wake swell squall"
).split()


class BaselineIndexInput(BaseModel):
    directory: str
    corpus: str
    batch_size: int = 16


class BaselineAnswerInput(BaseModel):
    question: str
    corpus: str
    top_k: int = 5


@workflow.defn(name="BaselineIndex")
class BaselineIndexWorkflow:
    @workflow.run
    async def run(self, params: BaselineIndexInput) -> int:
        scan: ScanResult = await workflow.execute_activity(
            scan_corpus, ScanRequest(directory=params.directory, corpus=params.corpus), **TOOL_CALL.kwargs()
        )
        sources = [entry.source for entry in scan.changed]
        passages = 0
        for start in range(0, len(sources), params.batch_size):
            batch = BatchRequest(
                directory=params.directory,
                corpus=params.corpus,
                sources=sources[start : start + params.batch_size],
            )
            done: BatchResult = await workflow.execute_activity(index_batch, batch, **INDEX_WRITE.kwargs())
            passages += done.chunks
        return passages


@workflow.defn(name="BaselineAnswer")
class BaselineAnswerWorkflow:
    @workflow.run
    async def run(self, params: BaselineAnswerInput) -> str:
        passages: list[Passage] = await workflow.execute_activity(
            retrieve,
            RetrieveRequest(corpus=params.corpus, question=params.question, top_k=params.top_k),
            **TOOL_CALL.kwargs(),
        )
        request = LLMRequest(
            system=ANSWER_SYSTEM,
            messages=[Message.user_text(answer_prompt(params.question, passages))],
            response_schema=RESPONSE_SCHEMA,
            step_kind="answer",
            step="generate",
        )
        response: LLMResponse = await workflow.execute_activity(
            "llm.complete", request, result_type=LLMResponse, **LLM_CALL.kwargs()
        )
        _, reasons = check_answer(response.text(), passages)
        return "grounded" if not reasons else "unverified"


def write_corpus(directory: Path, files: int) -> None:
    """`files` markdown files of about 600 words (four passages each); the first holds the fact."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    for number in range(files):
        words = [rng.choice(_FILLER) for _ in range(600)]
        sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, len(words), 12)]
        if number == 0:
            sentences.insert(10, FACT)
        (directory / f"notes-{number:04d}.md").write_text(
            f"# Notes {number}\n\n" + " ".join(sentences) + "\n"
        )


@asynccontextmanager
async def answer_workers(bench: Bench) -> AsyncIterator[None]:
    from activities.llm.pricing import PriceTable
    from activities.llm.providers.offline import OfflineProvider
    from activities.resources import ResourcesInterceptor, WorkerResources

    settings = bench_settings(
        bench.address,
        bench.state_dir,
        temporal_task_queue=PRODUCT_QUEUE,
        index_path=bench.state_dir / "answer-index.sqlite3",
        index_roots=str(bench.state_dir / "answer-corpus"),  # the folder `figures` writes and indexes
    )
    llm = LLMActivities(OfflineProvider(), PriceTable.load(None))
    activities: list[Callable[..., Any]] = [llm.complete, scan_corpus, index_batch, retrieve]
    baseline = Worker(
        bench.baseline,
        task_queue=BASELINE_QUEUE,
        workflows=[BaselineIndexWorkflow, BaselineAnswerWorkflow],
        activities=activities,
        # The retrieval activities find their index through the worker's resources, as in the product.
        interceptors=[ResourcesInterceptor(WorkerResources(settings))],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.worker_sticky_queue_timeout_s),
    )
    async with (
        build_worker(bench.product, settings, task_queue=PRODUCT_QUEUE, activities=activities),
        baseline,
    ):
        yield


@dataclass(frozen=True)
class _Side:
    """One side's workflow in a figure: where it runs and how its result reads."""

    name: str
    client: Client
    workflow: str
    task_queue: str
    result_type: type

    async def timed(self, arg: BaseModel) -> tuple[WorkflowHandle[Any, Any], Any, float]:
        """Starts the run and waits for its result: the handle, the result and the seconds taken."""
        started = time.perf_counter()
        handle = await self.client.start_workflow(
            self.workflow,
            arg,
            id=new_id(self.workflow.lower()),
            task_queue=self.task_queue,
            result_type=self.result_type,
        )
        result = await handle.result()
        return handle, result, time.perf_counter() - started


async def figures(bench: Bench, sizes: Sizes) -> list[Figure]:
    files = 8 if sizes.reps == 1 else 120
    corpus_dir = bench.state_dir / "answer-corpus"
    write_corpus(corpus_dir, files)
    index = {
        True: _Side("product", bench.product, "IndexWorkflow", PRODUCT_QUEUE, IndexResult),
        False: _Side("baseline", bench.baseline, "BaselineIndex", BASELINE_QUEUE, int),
    }
    answer = {
        True: _Side("product", bench.product, "AnswerWorkflow", PRODUCT_QUEUE, AnswerResult),
        False: _Side("baseline", bench.baseline, "BaselineAnswer", BASELINE_QUEUE, str),
    }
    index_rates: dict[str, list[float]] = {"product": [], "baseline": []}
    answer_ms: dict[str, list[float]] = {"product": [], "baseline": []}
    index_counts, answer_counts = sides(), sides()
    async with answer_workers(bench):
        # The first repetition warms both sides up, unrecorded. A run indexes in about half a second, so
        # single runs spread 3x on this machine: three times the repetitions steady the median.
        for rep in range(sizes.reps * 3 + 1):
            for is_product in in_turn(rep):
                corpus = f"bench-{uuid.uuid4().hex[:8]}"  # a new corpus: every file is indexed
                side = index[is_product]
                source = IndexInput if is_product else BaselineIndexInput
                handle, result, seconds = await side.timed(source(directory=str(corpus_dir), corpus=corpus))
                passages = result.passages if is_product else result
                if rep:
                    index_rates[side.name].append(passages / seconds)
                    await count_into(index_counts[side.name], side.client, [handle])
        answered = f"bench-{uuid.uuid4().hex[:8]}"
        await index[True].timed(IndexInput(directory=str(corpus_dir), corpus=answered))
        for rep in range(sizes.reps * 10 + 1):  # short runs: many repetitions steady the median
            for is_product in in_turn(rep):
                side = answer[is_product]
                question = AnswerInput if is_product else BaselineAnswerInput
                handle, result, seconds = await side.timed(question(question=QUESTION, corpus=answered))
                outcome = result.outcome if is_product else result
                if outcome != "grounded":
                    raise RuntimeError(f"{side.name} answer was {outcome}, not grounded")
                if rep:
                    answer_ms[side.name].append(seconds * 1000)
                    await count_into(answer_counts[side.name], side.client, [handle])
    return [
        Figure(
            "index_throughput",
            f"index throughput, {files} markdown files (4 passages each), batches of 16",
            "passages/s",
            index_rates["product"],
            index_rates["baseline"],
            "ratio>=",
            0.8,
            counts=index_counts,
        ),
        Figure(
            "answer_latency",
            "grounded answer (retrieve, generate, validate), zero-latency model",
            "ms",
            answer_ms["product"],
            answer_ms["baseline"],
            "ratio<=",
            1.25,
            counts=answer_counts,
        ),
    ]
