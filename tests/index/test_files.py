"""The corpus reader on its own: reads stop at the cap plus one byte however much a file holds, a
file's size is checked before it is read, symlinks and FIFOs are not read, a folder counts as inside a
root by whole path components, and INDEX_ROOTS defaults to this repository's docs/corpus."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.retrieval import files
from activities.retrieval.files import TooLarge, read_at_most, read_file, resolve_folder
from common.settings import try_load_settings

REPO = Path(__file__).resolve().parent.parent.parent


class Endless:
    """A stream that never ends, counting the bytes handed out."""

    def __init__(self) -> None:
        self.handed_out = 0

    def read(self, size: int = -1, /) -> bytes:
        assert size > 0, "an unbounded read of an endless stream"
        self.handed_out += size
        return b"x" * size


def test_a_read_stops_after_the_limit_however_much_the_stream_holds() -> None:
    stream = Endless()
    assert len(read_at_most(stream, 1_000_001)) == 1_000_001
    assert stream.handed_out == 1_000_001


def test_a_file_over_the_cap_is_too_large_before_a_byte_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.md"
    big.write_bytes(b"a" * 101)
    exact = tmp_path / "exact.md"
    exact.write_bytes(b"a" * 100)
    limits: list[int] = []
    real = files.read_at_most
    monkeypatch.setattr(
        files, "read_at_most", lambda stream, limit: limits.append(limit) or real(stream, limit)
    )
    with pytest.raises(TooLarge):
        read_file(big, 100)
    assert limits == []  # its size said so: nothing read
    assert read_file(exact, 100) == b"a" * 100
    assert limits == [101]  # the cap plus one byte: a file that grew is seen as too large


def test_symlinks_and_fifos_are_not_read(tmp_path: Path) -> None:
    target = tmp_path / "target.md"
    target.write_text("secret")
    (tmp_path / "link.md").symlink_to(target)
    os.mkfifo(tmp_path / "pipe.md")
    outcome: list[bytes | None] = []
    reader = threading.Thread(
        target=lambda: outcome.append(read_file(tmp_path / "pipe.md", 100)), daemon=True
    )
    reader.start()
    reader.join(10)  # a FIFO opened for reading without O_NONBLOCK would wait for a writer forever
    assert outcome == [None]
    assert read_file(tmp_path / "link.md", 100) is None


def test_a_folder_is_inside_a_root_by_whole_path_components(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "root-evil").mkdir()
    assert resolve_folder(str(root), [root]) == root.resolve()
    assert resolve_folder(str(root / "sub"), [root]) == (root / "sub").resolve()
    for refused in (tmp_path / "root-evil", tmp_path / "nowhere", root / ".." / "root-evil"):
        with pytest.raises(ApplicationError) as error:
            resolve_folder(str(refused), [root])
        assert error.value.type == "IndexPathRefused"  # whether the folder exists is not told
    with pytest.raises(ApplicationError):
        resolve_folder(str(root), [])  # no roots: nothing may be indexed


def test_index_roots_default_to_the_demo_corpus_and_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INDEX_ROOTS", "INDEX_MAX_FILE_BYTES", "INDEX_MAX_CORPUS_BYTES"):
        monkeypatch.delenv(name, raising=False)
    defaults = try_load_settings(llm_provider="offline", _env_file=None)
    assert defaults.index_root_paths == (REPO / "docs" / "corpus",)
    assert (defaults.index_max_file_bytes, defaults.index_max_corpus_bytes) == (
        2 * 1024 * 1024,
        200 * 1024 * 1024,
    )
    monkeypatch.setenv("INDEX_ROOTS", " /srv/docs , ,relative/notes,")
    assert try_load_settings(llm_provider="offline", _env_file=None).index_root_paths == (
        Path("/srv/docs"),
        Path("relative/notes"),
    )
