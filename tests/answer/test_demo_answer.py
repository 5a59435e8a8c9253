"""The demo's grounded answer (`make demo`, after the research run): docs/corpus indexed, the demo
question answered on the offline model with a citation whose quote is in the cited file."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from activities.retrieval.text import normalized
from common.settings import Settings
from starter.demo import DEMO_CORPUS, grounded_answer
from tests.answer.support import index_settings
from worker.app import build_worker


async def test_the_demo_answers_from_docs_corpus_with_a_citation(
    dev_client: Client, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = index_settings(settings, tmp_path)
    async with build_worker(dev_client, settings):
        await grounded_answer(dev_client, settings)
    out = capsys.readouterr().out
    assert "files indexed" in out and "run ended: completed" in out
    assert "outcome: grounded" in out
    citation = next(line for line in out.splitlines() if line.startswith("[1] "))
    source = citation.split()[1]
    quote = citation.split(": ", 1)[1].strip('"')
    assert "crash" in quote
    assert normalized(quote) in normalized((DEMO_CORPUS / source).read_text())
