"""What a worker may index, decided by its own settings (a `python -m worker` process on the dev
server): a folder outside INDEX_ROOTS (directly, by `..`, or by a symlink) fails the run at once with one
typed line and none of it reaches the index; a symlink inside a root is not followed; a file over
INDEX_MAX_FILE_BYTES is skipped (and never read whole); a corpus over INDEX_MAX_CORPUS_BYTES fails."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.answer.history import activity_attempts
from tests.answer.support import copy_corpus
from tests.chaos.processes import ReplaceableWorker, clean_environment
from workflows.answer import AnswerInput, AnswerResult, AnswerWorkflow
from workflows.index import IndexInput, IndexResult, IndexWorkflow

pytestmark = pytest.mark.timeout(180)

SECRET_WORD = "quokkapassphrase"  # in the secret file only
SECRET_QUESTION = f"What is the {SECRET_WORD} of the vault?"
FILE_CAP = 10_000
CORPUS_CAP = 20_000


class Worker:
    """A worker process whose INDEX_ROOTS and caps are this test's; runs on its own task queue."""

    def __init__(self, client: Client, task_queue: str, state: Path, process: ReplaceableWorker) -> None:
        self.client, self.task_queue, self.state, self.process = client, task_queue, state, process

    async def start_index(
        self, directory: Path | str, corpus: str
    ) -> WorkflowHandle[IndexWorkflow, IndexResult]:
        return await self.client.start_workflow(
            IndexWorkflow.run,
            IndexInput(directory=str(directory), corpus=corpus),
            id=f"index-{uuid.uuid4().hex[:10]}",
            task_queue=self.task_queue,
        )

    async def answer(self, question: str, corpus: str) -> AnswerResult:
        return await self.client.execute_workflow(
            AnswerWorkflow.run,
            AnswerInput(question=question, corpus=corpus),
            id=f"answer-{uuid.uuid4().hex[:10]}",
            task_queue=self.task_queue,
        )

    def indexed_texts(self) -> list[tuple[str, str, str]]:
        """(corpus, source, text) of every passage in the worker's index file."""
        path = self.state / "index.sqlite3"
        if not path.exists():
            return []
        with sqlite3.connect(path) as connection:
            return list(connection.execute("SELECT corpus, source, text FROM index_passages"))

    def peak_memory_bytes(self) -> int:
        """The worker process's peak resident memory so far (Linux: VmHWM)."""
        status = Path(f"/proc/{self.process.current.pid}/status").read_text()
        [line] = [line for line in status.splitlines() if line.startswith("VmHWM:")]
        return int(line.split()[1]) * 1024


@asynccontextmanager
async def worker(server: WorkflowEnvironment, state: Path, roots: list[Path]) -> AsyncIterator[Worker]:
    task_queue = f"index-roots-{uuid.uuid4().hex[:8]}"
    env = clean_environment(
        {
            "TEMPORAL_ADDRESS": server.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "LLM_PROVIDER": "offline",
            "PAYLOAD_STORE": "off",
            "INDEX_PATH": str(state / "index.sqlite3"),
            "INDEX_ROOTS": ",".join(str(root) for root in roots),
            "INDEX_MAX_FILE_BYTES": str(FILE_CAP),
            "INDEX_MAX_CORPUS_BYTES": str(CORPUS_CAP),
            "WORKER_GRACEFUL_SHUTDOWN_S": "0",
        }
    )
    env.pop("EMBEDDINGS_BASE_URL", None)
    async with ReplaceableWorker(env, state) as process:
        yield Worker(server.client, task_queue, state, process)


def secret_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "secret.md").write_text(f"The {SECRET_WORD} of the vault is hunter2, kept on this host only.\n")
    return folder


async def failure_of(handle: WorkflowHandle[IndexWorkflow, IndexResult]) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def assert_failed_at_once(handle: WorkflowHandle[IndexWorkflow, IndexResult]) -> None:
    scheduled, started = await activity_attempts(handle)
    assert scheduled == {"retrieval.scan": 1} and started["retrieval.scan"] == 1  # never retried


async def test_a_folder_outside_the_roots_is_refused_at_once_and_none_of_it_is_answerable(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    root = copy_corpus(tmp_path / "root")
    outside = secret_folder(tmp_path / "outside")
    (root / "way-out").symlink_to(outside, target_is_directory=True)
    async with worker(dev_server_env, tmp_path, [root]) as w:
        for directory in (str(outside), f"{root}/../outside", str(root / "way-out")):
            handle = await w.start_index(directory, "leak")
            refused = await failure_of(handle)
            assert (refused.type, refused.non_retryable) == ("IndexPathRefused", True)
            assert (
                refused.message
                == f"{directory}: not below INDEX_ROOTS (the worker's setting decides which folders may be indexed)"
            )
            await assert_failed_at_once(handle)
        answered = await w.answer(SECRET_QUESTION, "leak")
    assert (answered.outcome, answered.passages, answered.citations) == ("no_answer", [], [])
    assert not [row for row in w.indexed_texts() if SECRET_WORD in row[2]]


async def test_a_symlink_inside_a_root_is_not_followed_out_of_it(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    root = copy_corpus(tmp_path / "root")
    outside = secret_folder(tmp_path / "outside")
    (root / "notes.md").symlink_to(outside / "secret.md")
    (root / "shared").symlink_to(outside, target_is_directory=True)
    async with worker(dev_server_env, tmp_path, [root]) as w:
        result = await (await w.start_index(root, "linked")).result()
        answered = await w.answer(SECRET_QUESTION, "linked")
    assert result.files_indexed == 3  # kelp.txt, tides.md, guides/lighthouses.html
    assert {source for _, source, _ in w.indexed_texts()} == {
        "kelp.txt",
        "tides.md",
        "guides/lighthouses.html",
    }
    assert not [row for row in w.indexed_texts() if SECRET_WORD in row[2]]
    assert all(not p.startswith(("notes.md", "shared/")) for p in answered.passages)


async def test_a_file_over_the_file_cap_is_skipped_and_a_grown_one_leaves_the_index(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    root = copy_corpus(tmp_path / "root")
    (root / "big.md").write_text(f"{SECRET_WORD} " * (FILE_CAP // len(SECRET_WORD)))  # over the cap
    (root / "grows.md").write_text("The lighthouse keeper logs every storm.\n")
    async with worker(dev_server_env, tmp_path, [root]) as w:
        first = await (await w.start_index(root, "caps")).result()
        assert "grows.md" in {source for _, source, _ in w.indexed_texts()}
        (root / "grows.md").write_text("storm " * FILE_CAP)
        again = await (await w.start_index(root, "caps")).result()
    assert (first.files_indexed, first.skipped) == (4, ["big.md"])
    assert (again.files_indexed, again.files_removed, again.skipped) == (0, 1, ["big.md", "grows.md"])
    sources = {source for _, source, _ in w.indexed_texts()}
    assert sources == {"kelp.txt", "tides.md", "guides/lighthouses.html"}


async def test_a_corpus_over_the_corpus_cap_fails_at_once_with_its_reason(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for n in range(3):  # each under the file cap, together over the corpus cap
        (root / f"part-{n}.md").write_text("word " * (FILE_CAP // 6))
    async with worker(dev_server_env, tmp_path, [root]) as w:
        handle = await w.start_index(root, "huge")
        refused = await failure_of(handle)
        await assert_failed_at_once(handle)
    assert (refused.type, refused.non_retryable) == ("IndexCorpusTooLarge", True)
    assert refused.message == (
        f"{root}: more than INDEX_MAX_CORPUS_BYTES ({CORPUS_CAP} bytes) of indexable files; nothing was indexed"
    )
    assert w.indexed_texts() == []


async def test_a_file_over_the_cap_never_enters_the_workers_memory(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    root = copy_corpus(tmp_path / "root")
    huge = 256 * 1024 * 1024
    (root / "huge.md").touch()
    os.truncate(root / "huge.md", huge)  # sparse: no disk used, 256 MiB if read
    async with worker(dev_server_env, tmp_path, [root]) as w:
        before = w.peak_memory_bytes()
        result = await (await w.start_index(root, "sparse")).result()
        grown = w.peak_memory_bytes() - before
    assert grown < 64 * 1024 * 1024, f"the worker's peak memory grew by {grown} bytes"
    assert (result.files_indexed, result.skipped) == (3, ["huge.md"])
