"""The stdio transport of the `mcp` SDK (2.3.0) with its reader bounded: the SDK's `stdio_client`
joins the server's stdout into one string until a newline, without limit, so a 150 MB line is held
whole (and joined quadratically). This is the SDK's `stdio_client` with the same process handling
(its spawn and shutdown helpers) and one change: the server's output is cut into lines by
`reply_limit.Framer`, and a line over the bound becomes a `reply_limit.too_large` answer to its
request (or is dropped, for a notification)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TextIO

import anyio
import anyio.lowlevel
from mcp.client import stdio as sdk_stdio
from mcp.client._transport import TransportStreams
from mcp.client.stdio import StdioServerParameters, get_default_environment
from mcp.shared.message import SessionMessage

from activities.mcp.reply_limit import MAX_REPLY_BYTES, Framer, Skipped, reply_id, too_large

__all__ = ["bounded_stdio_client"]

log = logging.getLogger(__name__)


@asynccontextmanager
async def bounded_stdio_client(
    server: StdioServerParameters, limit: int = MAX_REPLY_BYTES, errlog: TextIO = sys.stderr
) -> AsyncIterator[TransportStreams]:
    """Spawns the server and talks to it over stdin/stdout, reading at most `limit` bytes of a line."""
    command = await sdk_stdio._get_executable_command(server.command)
    process = await sdk_stdio._create_platform_compatible_process(
        command=command,
        args=server.args,
        env=get_default_environment() | (server.env or {}),
        errlog=errlog,
        cwd=server.cwd,
    )
    # As in the SDK: no await between the spawn and the task group, or a cancellation leaks the process.
    read_stream_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_stream_reader = anyio.create_memory_object_stream[SessionMessage](0)
    shutting_down = False
    writer_done = anyio.Event()

    def message_of(line: bytes | Skipped) -> SessionMessage | Exception | None:
        if isinstance(line, Skipped):
            request_id = reply_id(line)
            if request_id is None:
                log.warning(
                    "MCP server %s: dropped a message of %d bytes (over %d)", server.command, line.size, limit
                )
                return None
            return SessionMessage(too_large(request_id, limit))
        text = line.decode(server.encoding, errors=server.encoding_error_handler)
        return sdk_stdio._parse_line(text) if text.strip() else None

    async def stdout_reader() -> None:
        assert process.stdout, "Opened process is missing stdout"
        framer = Framer(limit)
        try:
            async with read_stream_writer:
                try:
                    async for chunk in process.stdout:
                        for line in framer.feed(chunk):
                            message = message_of(line)
                            if message is None:
                                continue
                            try:
                                await read_stream_writer.send(message)
                            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                                return
                finally:
                    await sdk_stdio._drain_stdout(process)
        except anyio.ClosedResourceError:
            pass
        except (anyio.BrokenResourceError, ConnectionError):
            if not shutting_down:
                log.exception("Reading from the MCP server's stdout failed mid-session")

    async def stdin_writer() -> None:
        assert process.stdin, "Opened process is missing stdin"
        try:
            async with write_stream_reader:
                async for session_message in write_stream_reader:
                    json = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    data = (json + "\n").encode(
                        encoding=server.encoding, errors=server.encoding_error_handler
                    )
                    await process.stdin.send(data)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await read_stream_writer.aclose()
        finally:
            writer_done.set()

    async def shutdown() -> None:
        read_stream.close()
        write_stream.close()
        with anyio.move_on_after(sdk_stdio._WRITER_FLUSH_TIMEOUT) as flush_scope:
            await writer_done.wait()
        if flush_scope.cancelled_caught:
            await anyio.lowlevel.cancel_shielded_checkpoint()
        await sdk_stdio._stop_server_process(process)
        await sdk_stdio._aclose_all(read_stream, write_stream, read_stream_writer, write_stream_reader)
        await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stdout_reader)
        tg.start_soon(stdin_writer)
        try:
            yield read_stream, write_stream
        finally:
            shutting_down = True
            with anyio.CancelScope(shield=True):  # the server process must not leak (as in the SDK)
                await shutdown()
            tg.cancel_scope.cancel()
    await anyio.lowlevel.cancel_shielded_checkpoint()
