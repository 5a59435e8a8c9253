"""Running the grounded-answer pipeline in tests: a copy of the test corpus, a worker whose index is
this test's own file, and runs of `IndexWorkflow` / `AnswerWorkflow` to their results."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from temporalio.client import Client, WorkflowHandle

from common.settings import Settings
from workflows.answer import AnswerInput, AnswerResult, AnswerWorkflow
from workflows.index import IndexInput, IndexResult, IndexWorkflow

CORPUS = Path(__file__).parent / "corpus"
# The question whose answer is in one file only (corpus/tides.md), and the sentence that answers it.
QUESTION = "What does the ochre sea star hunt in tide pools?"
ANSWER_SOURCE = "tides.md"
ANSWER_SENTENCE = "The ochre sea star hunts mussels in the tide pools of the Pacific coast at low tide."


def copy_corpus(destination: Path) -> Path:
    """A private copy (tests edit and delete files in it). Paths given to these helpers are absolute."""
    shutil.copytree(CORPUS, destination)
    return destination


def index_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"index_path": tmp_path / "index.sqlite3"})


async def index_corpus(
    client: Client, settings: Settings, directory: Path, corpus: str = "default", batch_size: int = 16
) -> IndexResult:
    handle = await start_index(client, settings, directory, corpus, batch_size)
    return await handle.result()


async def start_index(
    client: Client, settings: Settings, directory: Path, corpus: str = "default", batch_size: int = 16
) -> WorkflowHandle[IndexWorkflow, IndexResult]:
    return await client.start_workflow(
        IndexWorkflow.run,
        IndexInput(directory=str(directory), corpus=corpus, batch_size=batch_size),
        id=f"index-{uuid.uuid4().hex[:10]}",
        task_queue=settings.temporal_task_queue,
    )


async def start_answer(
    client: Client, settings: Settings, question: str = QUESTION, **options: object
) -> WorkflowHandle[AnswerWorkflow, AnswerResult]:
    return await client.start_workflow(
        AnswerWorkflow.run,
        AnswerInput(question=question, **options),
        id=f"answer-{uuid.uuid4().hex[:10]}",
        task_queue=settings.temporal_task_queue,
    )


async def answer(
    client: Client, settings: Settings, question: str = QUESTION, **options: object
) -> AnswerResult:
    return await (await start_answer(client, settings, question, **options)).result()
