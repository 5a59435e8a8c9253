"""The pipeline end to end on the offline model: index a corpus, ask a question whose answer is in
one file, get that file's passage cited with a quote found in it; nothing relevant -> no_answer."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from activities.retrieval.text import normalized
from common.settings import Settings
from tests.answer.support import (
    ANSWER_SENTENCE,
    ANSWER_SOURCE,
    CORPUS,
    QUESTION,
    answer,
    index_corpus,
    index_settings,
)
from worker.app import build_worker


async def test_the_answer_cites_the_one_file_that_holds_it(
    ts_client: Client, settings: Settings, tmp_path: Path
) -> None:
    settings = index_settings(settings, tmp_path)
    async with build_worker(ts_client, settings):
        indexed = await index_corpus(ts_client, settings, CORPUS)
        result = await answer(ts_client, settings, QUESTION)

    assert (indexed.files_indexed, indexed.files_removed) == (3, 0)
    assert result.outcome == "grounded", result.reasons
    assert result.reasks == 0 and result.reasons == []
    [citation] = result.citations
    assert citation.source == ANSWER_SOURCE
    assert citation.passage_id.startswith(f"{ANSWER_SOURCE}#")
    assert citation.passage_id in result.passages
    assert normalized(citation.quote) == normalized(ANSWER_SENTENCE)
    assert normalized(ANSWER_SENTENCE) in normalized((CORPUS / ANSWER_SOURCE).read_text())
    assert "mussels" in result.answer
    assert [s.step for s in result.steps] == ["retrieve", "generate", "validate 1"]
    assert result.usage.input_tokens > 0


async def test_html_is_indexed_as_text_and_answers_from_it(
    ts_client: Client, corpus_worker: Settings
) -> None:
    result = await answer(ts_client, corpus_worker, "Who invented the Fresnel lens, and when?")
    assert result.outcome == "grounded"
    [citation] = result.citations
    assert citation.source == "guides/lighthouses.html"
    assert "1822" in citation.quote and "<p>" not in citation.quote


async def test_nothing_relevant_is_no_answer_without_asking_the_model(
    ts_client: Client, corpus_worker: Settings
) -> None:
    result = await answer(ts_client, corpus_worker, "How are semiconductor wafers doped?")
    assert result.outcome == "no_answer"
    assert (result.answer, result.citations, result.passages) == ("", [], [])
    assert [s.step for s in result.steps] == ["retrieve"]


async def test_an_unknown_corpus_is_no_answer(ts_client: Client, corpus_worker: Settings) -> None:
    result = await answer(ts_client, corpus_worker, QUESTION, corpus="elsewhere")
    assert result.outcome == "no_answer"
