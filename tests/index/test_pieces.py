"""The retrieval pieces on their own: passages overlap, HTML becomes its text, the FTS5 query takes
the question as data, reciprocal-rank fusion, cosine similarity with its floor, and the grounding
checks' normalisation."""

from __future__ import annotations

import json

import numpy as np

from activities.retrieval.dense import MIN_SIMILARITY, fuse, nearest
from activities.retrieval.grounding import check_answer
from activities.retrieval.models import Passage
from activities.retrieval.query import fts5_query
from activities.retrieval.text import chunk, to_text


def test_passages_overlap_and_cover_every_word() -> None:
    words = [f"w{i}" for i in range(450)]
    passages = chunk(" ".join(words), words=200, overlap=40)
    assert [p.split()[0] for p in passages] == ["w0", "w160", "w320"]
    assert passages[0].split()[-40:] == passages[1].split()[:40]
    assert passages[-1].split()[-1] == "w449"
    assert chunk("   ") == []


def test_html_is_text_without_scripts_styles_or_markup() -> None:
    html = b"<html><head><style>p{}</style><script>var x = 1;</script></head><body><p>Fish &amp; chips</p></body></html>"
    text = to_text("page.html", html)
    assert " ".join(text.split()) == "Fish & chips"
    assert to_text("notes.md", b"<p>kept as written</p>") == "<p>kept as written</p>"


def test_the_fts5_query_quotes_every_word_and_drops_stop_words() -> None:
    assert fts5_query('What is "NEAR" the tide OR kelp*?') == '"near" OR "tide" OR "kelp"'
    assert fts5_query("what is the") is None


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    a, b, c = (Passage(passage_id=p, source="s", text=p) for p in ("a", "b", "c"))
    fused = fuse([[a, b], [b, c]], limit=3)
    assert [p.passage_id for p in fused] == ["b", "a", "c"]
    assert fused[0].score == 1 / 62 + 1 / 61


def test_nearest_keeps_only_similar_passages() -> None:
    def unit(values: list[float]) -> bytes:
        vector = np.asarray(values, dtype=np.float32)
        return (vector / np.linalg.norm(vector)).tobytes()

    stored = [("close", unit([1, 0.1])), ("far", unit([0, 1])), ("mid", unit([1, 1]))]
    assert nearest(unit([1, 0]), stored, limit=5) == ["close", "mid"]
    assert MIN_SIMILARITY > 0  # "far" has cosine 0


def test_quotes_are_matched_with_normalised_whitespace_and_case_only() -> None:
    passage = Passage(passage_id="p#0", source="p", text="The ochre sea star\nhunts  mussels.")

    def reply(quote: str) -> str:
        return json.dumps({"answer": "a", "citations": [{"passage_id": "p#0", "quote": quote}]})

    assert check_answer(reply("the OCHRE sea star hunts mussels"), [passage])[1] == []
    assert check_answer(reply("the ochre sea-star hunts mussels"), [passage])[1] != []
    assert check_answer(reply("   "), [passage])[1] == ["citation 1 has an empty quote"]
    assert check_answer('{"no_answer": true}', [passage])[1] == []
    assert check_answer('{"answer": "x", "citations": []}', [passage])[1] == ["the answer cites no passage"]
