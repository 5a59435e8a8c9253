"""Re-indexing on both index backends (a SQLite file, a real PostgreSQL server): an unchanged folder
writes nothing, a changed file is re-indexed, a deleted file leaves the index; dense retrieval stores
a vector per passage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from common.settings import Settings
from tests.answer.history import activity_attempts
from tests.answer.support import QUESTION, answer, copy_corpus, index_corpus, start_index
from tests.index.embeddings_server import EmbeddingsServer
from worker.app import build_worker


@pytest.fixture(params=["sqlite", "postgres"])
def index_backend(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return settings.model_copy(update={"index_path": tmp_path / "index.sqlite3"})
    dsn: str = request.getfixturevalue("postgres_dsn")
    return settings.model_copy(update={"index_dsn": SecretStr(dsn)})


def file_states(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in directory.iterdir()}


async def test_an_unchanged_folder_is_not_written_again(
    ts_client: Client, index_backend: Settings, tmp_path: Path
) -> None:
    corpus = copy_corpus(tmp_path / "corpus")
    name = f"unchanged-{os.urandom(3).hex()}"  # the PostgreSQL cluster is shared by this module
    async with build_worker(ts_client, index_backend):
        first = await index_corpus(ts_client, index_backend, corpus, name)
        before = file_states(tmp_path)
        handle = await start_index(ts_client, index_backend, corpus, name)
        again = await handle.result()
        after = file_states(tmp_path)

    assert (first.files_indexed, first.batches) == (3, 1) and first.passages >= 3
    assert (again.files_indexed, again.files_unchanged, again.files_removed, again.batches) == (0, 3, 0, 0)
    scheduled, _ = await activity_attempts(handle)
    assert set(scheduled) == {"retrieval.scan"}  # no batch, no removal
    assert after == before  # the SQLite file and its WAL untouched (PostgreSQL: nothing here to touch)
    assert [s.step for s in again.steps] == ["scan"]


async def test_a_changed_file_is_reindexed_and_a_deleted_one_leaves_the_index(
    ts_client: Client, index_backend: Settings, tmp_path: Path
) -> None:
    corpus = copy_corpus(tmp_path / "corpus")
    name = f"changes-{os.urandom(3).hex()}"
    async with build_worker(ts_client, index_backend):
        await index_corpus(ts_client, index_backend, corpus, name)
        kelp = await answer(ts_client, index_backend, "What protects kelp forests?", corpus=name)
        (corpus / "kelp.txt").unlink()
        (corpus / "tides.md").write_text("Hermit crabs trade shells in tide pools as they grow.\n")
        changed = await index_corpus(ts_client, index_backend, corpus, name)
        kelp_after = await answer(ts_client, index_backend, "What protects kelp forests?", corpus=name)
        crabs = await answer(ts_client, index_backend, "What do hermit crabs trade?", corpus=name)
        sea_star = await answer(ts_client, index_backend, QUESTION, corpus=name)

    assert kelp.outcome == "grounded" and kelp.citations[0].source == "kelp.txt"
    assert (changed.files_indexed, changed.files_unchanged, changed.files_removed) == (1, 1, 1)
    assert kelp_after.outcome == "no_answer" and kelp_after.passages == []
    assert crabs.outcome == "grounded" and crabs.citations[0].source == "tides.md"
    assert all("mussels" not in c.quote for c in sea_star.citations)  # the old text of tides.md is gone


async def test_with_embeddings_every_passage_gets_a_vector_and_answers_are_fused(
    ts_client: Client, settings: Settings, tmp_path: Path, embeddings_server: EmbeddingsServer
) -> None:
    settings = settings.model_copy(
        update={"index_path": tmp_path / "index.sqlite3", "embeddings_base_url": embeddings_server.base_url}
    )
    corpus = copy_corpus(tmp_path / "corpus")
    async with build_worker(ts_client, settings):
        indexed = await index_corpus(ts_client, settings, corpus)
        result = await answer(ts_client, settings, QUESTION)

    assert indexed.embedded == indexed.passages > 0
    assert result.outcome == "grounded" and result.citations[0].source == "tides.md"
    assert embeddings_server.inputs[-1] == [QUESTION]  # the question was embedded to retrieve
