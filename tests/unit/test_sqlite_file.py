"""`SqliteFile` keeps one connection for its writes; a file removed or replaced under it is noticed,
so a write never lands in a file no other process reads."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from common import sqlite_file
from common.sqlite_file import SqliteFile

SCHEMA = ["CREATE TABLE IF NOT EXISTS notes (text TEXT NOT NULL)"]


class Unavailable(Exception):
    pass


def open_file(path: Path) -> SqliteFile:
    return SqliteFile(path, SCHEMA, "notes", Unavailable)


async def write(file: SqliteFile, text: str) -> int:
    """Inserts `text`; answers how many notes the transaction saw before it."""

    def insert(connection: sqlite3.Connection) -> int:
        (seen,) = connection.execute("SELECT COUNT(*) FROM notes").fetchone()
        connection.execute("INSERT INTO notes (text) VALUES (?)", (text,))
        return int(seen)

    return await file.run(insert, write=True)


async def notes(file: SqliteFile) -> list[str]:
    return await file.run(
        lambda c: [row[0] for row in c.execute("SELECT text FROM notes ORDER BY rowid")], write=False
    )


async def test_writes_share_one_kept_connection_and_see_each_others_files_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    connect = sqlite3.connect

    def counting(*args: object, **kwargs: object) -> sqlite3.Connection:
        opened.append("connect")
        return connect(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_file.sqlite3, "connect", counting)
    one, other = open_file(tmp_path / "notes.sqlite3"), open_file(tmp_path / "notes.sqlite3")  # two processes
    try:
        assert [
            await write(one, "a"),
            await write(other, "b"),
            await write(one, "c"),
            await write(one, "d"),
        ] == [
            0,
            1,
            2,
            3,
        ]
        assert len(opened) == 2  # one per file object, not one per transaction
        assert await notes(other) == ["a", "b", "c", "d"]
    finally:
        await one.close()
        await other.close()
    assert await write(one, "e") == 4  # closed: the next write opens again
    await one.close()


async def test_a_file_replaced_under_the_kept_connection_gets_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    worker = open_file(path)
    try:
        await write(worker, "before")
        for name in (path.name, path.name + "-wal", path.name + "-shm"):  # an operator moves it aside
            if (tmp_path / name).exists():
                os.replace(tmp_path / name, tmp_path / f"old-{name}")
        newcomer = open_file(path)  # another worker process starts on a fresh file
        assert await write(newcomer, "fresh") == 0
        assert await write(worker, "after") == 1  # into the file everyone reads, not the moved one
        assert await notes(newcomer) == ["fresh", "after"]
        await newcomer.close()
    finally:
        await worker.close()


async def test_a_removed_file_fails_one_write_with_the_components_error_then_is_recreated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.sqlite3"
    worker = open_file(path)
    try:
        await write(worker, "before")
        _remove_everything_in(tmp_path)
        with pytest.raises(Unavailable, match=r"notes .*no such table"):
            await write(worker, "lost")
        assert await write(worker, "after") == 0
        assert await notes(worker) == ["after"]
    finally:
        await worker.close()


def _remove_everything_in(directory: Path) -> None:
    for leftover in directory.iterdir():
        leftover.unlink()
