"""The index: passages of a corpus's files, searchable by keywords, with optional vectors.

Two backends with one interface: a SQLite file with an FTS5 table ranked by BM25 (default; several
worker processes on one host share it) and PostgreSQL full-text search (`INDEX_DSN`; workers on many
hosts). A file's passages are replaced in one transaction with its content hash, so a batch retried
after a crash rewrites the same rows, and the hash says which files are already indexed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from activities.retrieval.errors import index_unavailable
from activities.retrieval.models import Passage
from activities.retrieval.query import fts5_query
from common.postgres import SharedConnection, require_psycopg
from common.sqlite_file import SqliteFile

__all__ = ["IndexStore", "IndexedFile", "PostgresIndex", "SqliteIndex", "open_index"]


@dataclass(frozen=True)
class IndexedFile:
    source: str
    sha256: str
    passages: Sequence[str]
    vectors: Sequence[bytes] | None = None  # float32 unit vectors, one per passage


class IndexStore(Protocol):
    async def hashes(self, corpus: str) -> dict[str, str]: ...

    async def write(self, corpus: str, files: Sequence[IndexedFile]) -> None: ...

    async def remove(self, corpus: str, sources: Sequence[str]) -> None: ...

    async def keyword_search(self, corpus: str, question: str, limit: int) -> list[Passage]: ...

    async def vectors(self, corpus: str) -> list[tuple[str, bytes]]: ...

    async def passages(self, corpus: str, passage_ids: Sequence[str]) -> list[Passage]: ...

    async def close(self) -> None: ...


def passage_id(source: str, position: int) -> str:
    return f"{source}#{position}"


_SQLITE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS index_files (
        corpus TEXT NOT NULL, source TEXT NOT NULL, sha256 TEXT NOT NULL, passages INTEGER NOT NULL,
        PRIMARY KEY (corpus, source))""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS index_passages USING fts5(
        passage_id UNINDEXED, corpus UNINDEXED, source UNINDEXED, text, tokenize = 'porter unicode61')""",
    """CREATE TABLE IF NOT EXISTS index_vectors (
        corpus TEXT NOT NULL, passage_id TEXT NOT NULL, source TEXT NOT NULL, vector BLOB NOT NULL,
        PRIMARY KEY (corpus, passage_id))""",
]


class SqliteIndex:
    """A SQLite file, created on first use (WAL, busy timeout: shared by the worker processes of one
    host). Each call runs on its own connection in a thread, so nothing blocks the event loop."""

    def __init__(self, path: Path, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._file = SqliteFile(
            self.path, _SQLITE_SCHEMA, "index", index_unavailable, busy_timeout_s=busy_timeout_s
        )

    async def hashes(self, corpus: str) -> dict[str, str]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT source, sha256 FROM index_files WHERE corpus = ?", (corpus,)
            ).fetchall()
        )
        return {str(source): str(sha) for source, sha in rows}

    async def write(self, corpus: str, files: Sequence[IndexedFile]) -> None:
        def write(connection: sqlite3.Connection) -> None:
            for file in files:
                _sqlite_delete(connection, corpus, file.source)
                connection.executemany(
                    "INSERT INTO index_passages (passage_id, corpus, source, text) VALUES (?, ?, ?, ?)",
                    [
                        (passage_id(file.source, i), corpus, file.source, text)
                        for i, text in enumerate(file.passages)
                    ],
                )
                if file.vectors is not None:
                    connection.executemany(
                        "INSERT INTO index_vectors (corpus, passage_id, source, vector) VALUES (?, ?, ?, ?)",
                        [
                            (corpus, passage_id(file.source, i), file.source, v)
                            for i, v in enumerate(file.vectors)
                        ],
                    )
                connection.execute(
                    "INSERT INTO index_files (corpus, source, sha256, passages) VALUES (?, ?, ?, ?)",
                    (corpus, file.source, file.sha256, len(file.passages)),
                )

        await self._run(write, write=True)

    async def remove(self, corpus: str, sources: Sequence[str]) -> None:
        def remove(connection: sqlite3.Connection) -> None:
            for source in sources:
                _sqlite_delete(connection, corpus, source)

        await self._run(remove, write=True)

    async def keyword_search(self, corpus: str, question: str, limit: int) -> list[Passage]:
        match = fts5_query(question)
        if match is None:
            return []
        rows = await self._run(
            lambda c: c.execute(
                "SELECT passage_id, source, text, bm25(index_passages) FROM index_passages "
                "WHERE index_passages MATCH ? AND corpus = ? ORDER BY bm25(index_passages) LIMIT ?",
                (match, corpus, limit),
            ).fetchall()
        )
        # bm25() is lower-is-better; the score here is higher-is-better.
        return [Passage(passage_id=p, source=s, text=t, score=-float(rank)) for p, s, t, rank in rows]

    async def vectors(self, corpus: str) -> list[tuple[str, bytes]]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT passage_id, vector FROM index_vectors WHERE corpus = ? ORDER BY passage_id", (corpus,)
            ).fetchall()
        )
        return [(str(p), bytes(v)) for p, v in rows]

    async def passages(self, corpus: str, passage_ids: Sequence[str]) -> list[Passage]:
        if not passage_ids:
            return []
        marks = ",".join("?" * len(passage_ids))
        rows = await self._run(
            lambda c: c.execute(
                f"SELECT passage_id, source, text FROM index_passages WHERE corpus = ? AND passage_id IN ({marks})",
                (corpus, *passage_ids),
            ).fetchall()
        )
        found = {p: Passage(passage_id=p, source=s, text=t) for p, s, t in rows}
        return [found[p] for p in passage_ids if p in found]

    async def close(self) -> None:
        await self._file.close()  # the writer's kept connection

    async def _run(self, work: Any, *, write: bool = False) -> Any:
        return await self._file.run(work, write=write)


def _sqlite_delete(connection: sqlite3.Connection, corpus: str, source: str) -> None:
    connection.execute("DELETE FROM index_passages WHERE corpus = ? AND source = ?", (corpus, source))
    connection.execute("DELETE FROM index_vectors WHERE corpus = ? AND source = ?", (corpus, source))
    connection.execute("DELETE FROM index_files WHERE corpus = ? AND source = ?", (corpus, source))


_PG_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS retrieval_files (
        corpus TEXT NOT NULL, source TEXT NOT NULL, sha256 TEXT NOT NULL, passages INTEGER NOT NULL,
        PRIMARY KEY (corpus, source))""",
    """CREATE TABLE IF NOT EXISTS retrieval_passages (
        corpus TEXT NOT NULL, passage_id TEXT NOT NULL, source TEXT NOT NULL, text TEXT NOT NULL,
        tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', text)) STORED, vector BYTEA,
        PRIMARY KEY (corpus, passage_id))""",
    "CREATE INDEX IF NOT EXISTS retrieval_passages_tsv ON retrieval_passages USING GIN (tsv)",
    "CREATE INDEX IF NOT EXISTS retrieval_passages_source ON retrieval_passages (corpus, source)",
]

# Any of the question's words: PostgreSQL's own parser, stemmer and stop words make the lexemes
# (`plainto_tsquery` takes the text as data, never as query syntax), AND becomes OR; ranked by cover
# density. A question of stop words only is an empty query, which matches nothing.
_PG_SEARCH = """
SELECT passage_id, source, text, ts_rank_cd(tsv, query) AS rank
FROM retrieval_passages,
     CAST(replace(CAST(plainto_tsquery('english', %s) AS TEXT), ' & ', ' | ') AS TSQUERY) AS query
WHERE corpus = %s AND tsv @@ query
ORDER BY rank DESC, passage_id
LIMIT %s
"""


class PostgresIndex:
    """PostgreSQL full-text search, for workers on several hosts. One connection per worker process,
    one call at a time on it; reconnects after a failure."""

    def __init__(self, dsn: str) -> None:
        self._db = SharedConnection(dsn, _PG_SCHEMA, "index", index_unavailable)

    async def hashes(self, corpus: str) -> dict[str, str]:
        rows = await self._run([("SELECT source, sha256 FROM retrieval_files WHERE corpus = %s", (corpus,))])
        return {str(source): str(sha) for source, sha in rows}

    async def write(self, corpus: str, files: Sequence[IndexedFile]) -> None:
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for file in files:
            statements += _pg_delete(corpus, file.source)
            for i, text in enumerate(file.passages):
                vector = file.vectors[i] if file.vectors is not None else None
                statements.append(
                    (
                        "INSERT INTO retrieval_passages (corpus, passage_id, source, text, vector) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        (corpus, passage_id(file.source, i), file.source, text, vector),
                    )
                )
            statements.append(
                (
                    "INSERT INTO retrieval_files (corpus, source, sha256, passages) VALUES (%s, %s, %s, %s)",
                    (corpus, file.source, file.sha256, len(file.passages)),
                )
            )
        await self._run(statements, transaction=True)

    async def remove(self, corpus: str, sources: Sequence[str]) -> None:
        await self._run([s for source in sources for s in _pg_delete(corpus, source)], transaction=True)

    async def keyword_search(self, corpus: str, question: str, limit: int) -> list[Passage]:
        rows = await self._run([(_PG_SEARCH, (question, corpus, limit))])
        return [Passage(passage_id=p, source=s, text=t, score=float(rank)) for p, s, t, rank in rows]

    async def vectors(self, corpus: str) -> list[tuple[str, bytes]]:
        rows = await self._run(
            [
                (
                    "SELECT passage_id, vector FROM retrieval_passages "
                    "WHERE corpus = %s AND vector IS NOT NULL ORDER BY passage_id",
                    (corpus,),
                )
            ]
        )
        return [(str(p), bytes(v)) for p, v in rows]

    async def passages(self, corpus: str, passage_ids: Sequence[str]) -> list[Passage]:
        if not passage_ids:
            return []
        rows = await self._run(
            [
                (
                    "SELECT passage_id, source, text FROM retrieval_passages "
                    "WHERE corpus = %s AND passage_id = ANY(%s)",
                    (corpus, list(passage_ids)),
                )
            ]
        )
        found = {p: Passage(passage_id=p, source=s, text=t) for p, s, t in rows}
        return [found[p] for p in passage_ids if p in found]

    async def close(self) -> None:
        await self._db.close()

    async def _run(self, statements: list[tuple[str, tuple[Any, ...]]], *, transaction: bool = False) -> Any:
        """One statement's rows; or, with `transaction`, all the statements or none (no rows)."""
        if not transaction:
            [(sql, params)] = statements
            return await self._db.fetch(sql, params, rows="all")

        async def all_or_none(connection: Any) -> list[Any]:
            async with connection.transaction():
                for sql, params in statements:
                    await connection.execute(sql, params)
            return []

        return await self._db.run(all_or_none)


def _pg_delete(corpus: str, source: str) -> list[tuple[str, tuple[Any, ...]]]:
    return [
        ("DELETE FROM retrieval_passages WHERE corpus = %s AND source = %s", (corpus, source)),
        ("DELETE FROM retrieval_files WHERE corpus = %s AND source = %s", (corpus, source)),
    ]


def open_index(path: Path, dsn: str | None) -> IndexStore:
    """PostgreSQL when a DSN is configured, else the SQLite file."""
    if dsn:
        require_psycopg("INDEX_DSN")
        return PostgresIndex(dsn)
    return SqliteIndex(path)
