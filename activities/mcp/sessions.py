"""One client session per MCP server per worker, shared by every call the worker makes to it, and
opened again after it drops.

The SDK's `Client` is an anyio context: the task that enters it must leave it. So each session is
owned by a task of its own that enters the client, waits until the session is closed, and leaves;
calls from any activity use the connected client meanwhile. A session whose owner task ended (the
server exited, the stream broke) or whose call failed in transport is replaced on next use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import Tool

from activities.mcp.config import (
    McpConfig,
    McpServerConfig,
    load_mcp_config,
    stdio_environment,
    unknown_server,
)
from activities.mcp.http_limit import MAX_EVENT_BYTES, bounded_http_client
from activities.mcp.stdio_transport import bounded_stdio_client
from common.settings import Settings

__all__ = ["McpServerUnavailable", "McpSessions", "describe_failure"]

# Enough pages for any real server; a server whose cursor never ends cannot hang discovery.
MAX_LIST_PAGES = 100


class McpServerUnavailable(Exception):
    """The server cannot be reached or the session broke: the call may succeed when retried."""


def describe_failure(error: BaseException) -> str:
    """One line for an error that may be an exception group (anyio task groups raise those)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass
class _Session:
    name: str
    config: McpServerConfig
    client: Client | None = None
    task: asyncio.Task[None] | None = None
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def alive(self) -> bool:
        return self.client is not None and self.task is not None and not self.task.done()

    async def open(self) -> Client:
        ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._own(ready), name=f"mcp session {self.name}")
        try:
            self.client = await asyncio.wait_for(asyncio.shield(ready), self.config.connect_timeout_s)
        except TimeoutError:
            await self.close()
            raise McpServerUnavailable(
                f"MCP server {self.name!r} did not answer within {self.config.connect_timeout_s:g} s"
            ) from None
        except Exception as error:
            await self.close()
            raise McpServerUnavailable(
                f"MCP server {self.name!r} ({_where(self.config)}): {describe_failure(error)}"
            ) from None
        return self.client

    async def _own(self, ready: asyncio.Future[Client]) -> None:
        try:
            async with _connected(self.config) as client:
                ready.set_result(client)
                await self.closing.wait()
        except BaseException as error:
            if not ready.done():
                ready.set_exception(
                    error if isinstance(error, Exception) else McpServerUnavailable("cancelled")
                )
            if not isinstance(error, Exception):
                raise
        finally:
            self.client = None

    async def close(self) -> None:
        self.closing.set()
        task, self.task = self.task, None
        if task is None:
            return
        try:
            # The SDK bounds a stdio server's shutdown (close stdin, terminate, kill) to a few seconds.
            await asyncio.wait_for(task, 15)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
        except Exception:
            pass  # the session had already failed; it is gone either way


@contextlib.asynccontextmanager
async def _connected(config: McpServerConfig) -> AsyncIterator[Client]:
    """A session whose transport reads at most `reply_limit.MAX_REPLY_BYTES` of one message."""
    if config.command is not None:
        parameters = StdioServerParameters(
            command=config.command, args=config.args, env=stdio_environment(config), cwd=config.cwd
        )
        async with Client(bounded_stdio_client(parameters), cache=None) as client:
            yield client
        return
    assert config.url is not None
    timeout = httpx2.Timeout(config.connect_timeout_s, read=max(300.0, config.call_timeout_s))
    async with (
        bounded_http_client(dict(config.headers), timeout) as http,
        Client(
            streamable_http_client(config.url, http_client=http, max_sse_event_size=MAX_EVENT_BYTES),
            cache=None,
        ) as client,
    ):
        yield client


def _where(config: McpServerConfig) -> str:
    """The server's address without secrets: the command, or the URL without query or credentials."""
    if config.command is not None:
        return f"command {config.command}"
    url = httpx2.URL(config.url or "")
    return f"{url.scheme}://{url.host}{f':{url.port}' if url.port else ''}{url.path}"


class McpSessions:
    """The worker's sessions, one per configured server, opened on first use."""

    def __init__(self, config: McpConfig) -> None:
        self.config = config
        self._sessions: dict[str, _Session] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> McpSessions:
        if not settings.mcp_servers_file:
            return cls(McpConfig(servers={}))
        return cls(load_mcp_config(settings.mcp_servers_file))

    def servers(self) -> dict[str, McpServerConfig]:
        return self.config.enabled()

    async def client(self, server: str) -> Client:
        """The connected client of `server`; raises `McpServerUnavailable` (retry) when it is down."""
        config = self.servers().get(server)
        if config is None:
            raise unknown_server(server)
        async with self._locks.setdefault(server, asyncio.Lock()):
            session = self._sessions.get(server)
            if session is not None and session.alive and session.client is not None:
                return session.client
            if session is not None:
                await session.close()
            session = self._sessions[server] = _Session(server, config)
            return await session.open()

    async def drop(self, server: str, client: Client) -> None:
        """After a transport failure: the next call opens a new session (unless one already did)."""
        async with self._locks.setdefault(server, asyncio.Lock()):
            session = self._sessions.get(server)
            if session is not None and session.client is client:
                del self._sessions[server]
                await session.close()

    async def list_tools(self, server: str) -> list[Tool]:
        client = await self.client(server)
        tools: list[Tool] = []
        cursor: str | None = None
        try:
            for _ in range(MAX_LIST_PAGES):
                page = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
        except Exception as error:
            await self.drop(server, client)
            raise McpServerUnavailable(
                f"MCP server {server!r}: listing tools failed: {describe_failure(error)}"
            ) from None
        return tools

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
