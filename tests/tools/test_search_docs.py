"""search_docs: passages, tf-idf ranking, file names, and the corpus the demo ships."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import httpx

from activities.tools.http_get import HttpGetLimits
from activities.tools.read_only import ToolActivities
from activities.tools.search_docs import DocsIndex, SearchDocsInput, render_hits, split_passages, terms_of
from common.settings import Settings


def write(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_split_keeps_heading_with_its_paragraph() -> None:
    text = "# Title\n\n## Part\n\nfirst paragraph\nstill first\n\n\nsecond paragraph\n\n# Trailing"
    assert split_passages(text) == [
        "# Title\n## Part\nfirst paragraph\nstill first",
        "second paragraph",
        "# Trailing",
    ]


def test_terms_drop_stop_words_and_case() -> None:
    assert terms_of("The Approval of a continue-as-new run") == ["approval", "continue-as-new", "run"]


def test_ranks_frequent_rare_terms_first_and_names_files(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "approval approval approval gate\n\nunrelated words here")
    write(tmp_path, "sub/b.txt", "one approval and budget")
    write(tmp_path, "c.md", "budget budget")
    write(tmp_path, "ignored.rst", "approval approval approval approval")
    index = DocsIndex.build(tmp_path)
    hits = index.search("approval", limit=5)
    assert [(hit.passage.file, hit.passage.text) for hit in hits] == [
        ("a.md", "approval approval approval gate"),
        ("sub/b.txt", "one approval and budget"),
    ]
    assert hits[0].score > hits[1].score
    # Two query terms: the passage with both outranks passages with one.
    assert index.search("approval budget", limit=1)[0].passage.file == "sub/b.txt"


def test_limit_and_no_match(tmp_path: Path) -> None:
    for i in range(5):
        write(tmp_path, f"{i}.md", "temporal worker")
    index = DocsIndex.build(tmp_path)
    assert len(index.search("worker", limit=3)) == 3
    assert index.search("the of and", limit=3) == []
    assert render_hits("zebra", index.search("zebra", limit=3)) == "no passage matches 'zebra'"


async def test_activity_on_the_shipped_corpus(settings: Settings) -> None:
    async with httpx.AsyncClient() as client:
        tools = ToolActivities(client, HttpGetLimits(frozenset(), 1, 1.0), settings.tools_docs_dir)
        observation = await tools.search_docs(SearchDocsInput(query="approval deadline escalation", limit=2))
    assert not observation.is_error
    assert observation.content.startswith("[1] human-approval.md")
    assert "[2] " in observation.content and "[3] " not in observation.content


async def test_missing_folder_is_an_error_observation(tmp_path: Path) -> None:
    async with httpx.AsyncClient() as client:
        tools = ToolActivities(client, HttpGetLimits(frozenset(), 1, 1.0), tmp_path / "nowhere")
        observation = await tools.search_docs(SearchDocsInput(query="anything"))
    assert observation.is_error and "nowhere" in observation.content


async def test_index_is_built_once_per_activities_object(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "first version")
    async with httpx.AsyncClient() as client:
        tools = ToolActivities(client, HttpGetLimits(frozenset(), 1, 1.0), tmp_path)
        before = await tools.search_docs(SearchDocsInput(query="version"))
        write(tmp_path, "b.md", "second version")
        after = await tools.search_docs(SearchDocsInput(query="version"))
    assert before == after and "b.md" not in after.content


def test_a_symlink_out_of_the_folder_is_not_indexed(tmp_path: Path) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    write(corpus, "inside.md", "kelp forests grow fast")
    write(outside, "secret.md", "kelp password hunter2")
    (corpus / "leak.md").symlink_to(outside / "secret.md")
    (corpus / "linked-dir").symlink_to(outside, target_is_directory=True)
    index = DocsIndex.build(corpus)
    assert {passage.file for passage in index.passages} == {"inside.md"}
    assert "hunter2" not in render_hits("kelp password", index.search("kelp password", 5))


def test_a_symlink_inside_the_folder_is_indexed(tmp_path: Path) -> None:
    write(tmp_path, "real/a.md", "tide pools")
    (tmp_path / "alias.md").symlink_to(tmp_path / "real" / "a.md")
    assert {passage.file for passage in DocsIndex.build(tmp_path).passages} == {"alias.md", "real/a.md"}


def test_an_oversized_file_is_read_only_up_to_the_cap(tmp_path: Path) -> None:
    """A 256 MB file (sparse: it costs no disk) must not be read whole: memory stays near the cap."""
    write(tmp_path, "small.md", "tide pools")
    with (tmp_path / "huge.txt").open("wb") as handle:
        handle.write(b"tide " * 10)
        handle.truncate(256 * 1024 * 1024)
    tracemalloc.start()
    try:
        index = DocsIndex.build(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB while indexing"
    assert {hit.passage.file for hit in index.search("tide", 5)} == {"huge.txt", "small.md"}
