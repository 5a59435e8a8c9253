"""One PostgreSQL connection that a worker's component (the dedupe ledger, the retrieval index) keeps:
opened on first use (creating its schema), used by one caller at a time, dropped after a failure so
that the next use reconnects. The DSN never appears in a message: it may carry a password.

`psycopg` is imported only when a connection is made: only workers configured with a DSN need it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

__all__ = ["SharedConnection", "require_psycopg"]

T = TypeVar("T")


class SharedConnection:
    def __init__(self, dsn: str, schema: Sequence[str], what: str, unavailable: Callable[[str], Exception]):
        """`schema`: statements run once per connection (CREATE ... IF NOT EXISTS); `what` names it
        in messages; `unavailable(message)` is the retryable error a failure raises."""
        self._dsn = dsn
        self._schema = schema
        self._what = what
        self._unavailable = unavailable
        self._connection: Any = None
        self._lock = asyncio.Lock()

    async def run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """`work(connection)`, on the open connection; a database error drops it and raises the
        component's retryable error."""
        import psycopg

        async with self._lock:
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
                    for statement in self._schema:
                        try:
                            await self._connection.execute(statement)
                        except psycopg.errors.UniqueViolation:
                            pass  # another worker created it at the same moment (IF NOT EXISTS races)
                return await work(self._connection)
            except psycopg.Error as error:
                await self._discard()
                raise self._unavailable(
                    f"{self._what} (PostgreSQL): {type(error).__name__}: {error}"
                ) from None

    async def fetch(self, sql: str, params: Sequence[Any], *, rows: Literal["one", "all", "none"]) -> Any:
        """One statement: its first row, all its rows, or nothing."""

        async def statement(connection: Any) -> Any:
            cursor = await connection.execute(sql, params)
            if rows == "one":
                return await cursor.fetchone()
            return await cursor.fetchall() if rows == "all" else None

        return await self.run(statement)

    async def close(self) -> None:
        async with self._lock:
            await self._discard()

    async def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # the connection is already broken; closing is best effort
                pass


def require_psycopg(setting: str) -> None:
    """At start-up: a DSN in `setting` needs the optional `psycopg` package."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise RuntimeError(
            f"{setting} is set but the psycopg package is missing: pip install 'ai-workflows[postgres]'"
        ) from None
