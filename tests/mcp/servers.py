"""MCP servers for the tests, written with the official SDK (`MCPServer`, FastMCP's name in mcp 2).

Every call a server receives is appended to a JSON-lines log (tool, arguments, the request's
idempotency key, the server's pid), so a test can count calls across processes. The same tools run
over stdio (`python -m tests.mcp.servers LOG [HOLD_FIRST]`, a child of the worker) and over
streamable HTTP (`HttpMcpServer`, uvicorn on 127.0.0.1 in a thread of the test).

- `lookup` (read-only): the weather of a city.
- `delete_record` (destructive, not idempotent): "deletes" a record; with `hold`, waits until the
  test releases it, so a call can be caught in flight.
- `slow_lookup` (read-only): the first call ever (by the log) never answers, the next ones do.
- `broken` (read-only): answers with `isError`.
- `environment_names` (read-only): what a stdio server inherited.
- `huge` (read-only), only with `huge=True` (`--huge` over stdio): a text of that many megabytes
  (a reply too large to read whole).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

from activities.mcp.activities import IDEMPOTENCY_META_KEY

READ_ONLY = ToolAnnotations(read_only_hint=True)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True)


def calls_in(log: Path, tool: str | None = None) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    calls = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [call for call in calls if tool is None or call["tool"] == tool]


def build_server(
    log: Path, hold: threading.Event | None = None, hold_first: str = "", *, huge: bool = False
) -> MCPServer:
    """`hold`: `delete_record` waits for it. `hold_first`: the first call of that tool never ends.
    `huge`: the `huge` tool too."""
    app = MCPServer("test-tools")
    arrived = threading.Event()
    app.arrived = arrived  # type: ignore[attr-defined]  # set when a held call is in flight

    def record(tool: str, arguments: dict[str, Any], ctx: Context) -> int:
        meta = ctx.request_context.meta or {}
        before = len(calls_in(log, tool))
        line = {
            "tool": tool,
            "arguments": arguments,
            "key": meta.get(IDEMPOTENCY_META_KEY),
            "pid": os.getpid(),
        }
        with log.open("a") as out:
            out.write(json.dumps(line) + "\n")
        return before

    @app.tool(annotations=READ_ONLY)
    async def lookup(city: str, ctx: Context) -> str:
        """The current weather in a city."""
        record("lookup", {"city": city}, ctx)
        return f"The weather in {city} is sunny, 21 C."

    @app.tool(annotations=DESTRUCTIVE)
    async def delete_record(record_id: str, ctx: Context) -> str:
        """Delete a record for good."""
        record("delete_record", {"record_id": record_id}, ctx)
        if hold is not None:
            arrived.set()
            await anyio.to_thread.run_sync(hold.wait)
        return f"record {record_id} deleted"

    @app.tool(annotations=READ_ONLY)
    async def slow_lookup(city: str, ctx: Context) -> str:
        """The weather in a city, from a slow archive."""
        earlier = record("slow_lookup", {"city": city}, ctx)
        if hold_first == "slow_lookup" and earlier == 0:
            await anyio.sleep_forever()
        return f"The archive says {city} had rain."

    @app.tool(annotations=READ_ONLY)
    async def broken(reason: str, ctx: Context) -> str:
        """Always fails."""
        record("broken", {"reason": reason}, ctx)
        raise ToolError(f"the archive is offline ({reason})")

    @app.tool(annotations=READ_ONLY)
    async def environment_names(ctx: Context) -> list[str]:
        """The names of the server's environment variables."""
        record("environment_names", {}, ctx)
        return sorted(os.environ)

    if huge:

        @app.tool(annotations=READ_ONLY)
        async def huge(megabytes: int, ctx: Context) -> str:
            """A very long text."""
            record("huge", {"megabytes": megabytes}, ctx)
            return "x" * (megabytes * 1024 * 1024)

    return app


class HttpMcpServer:
    """`build_server`'s tools over streamable HTTP on 127.0.0.1; `url` is the MCP endpoint."""

    def __init__(self, log: Path, hold: threading.Event | None = None, *, huge: bool = False) -> None:
        self.app = build_server(log, hold, huge=huge)
        starlette = self.app.streamable_http_app(host="127.0.0.1")
        self._server = uvicorn.Server(uvicorn.Config(starlette, log_level="warning", lifespan="on"))
        self._socket = socket.create_server(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/mcp"
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> HttpMcpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(10)


if __name__ == "__main__":
    arguments = [argument for argument in sys.argv[1:] if argument != "--huge"]
    hold_first = arguments[1] if len(arguments) > 1 else ""
    build_server(Path(arguments[0]), hold_first=hold_first, huge="--huge" in sys.argv).run()
