"""One MCP message is read only up to `MAX_REPLY_BYTES`: a tool that answers with 150 MB must not make
the worker hold 150 MB (and the SDK's stdio reader joins a long line quadratically). The transports
(activities/mcp/stdio_transport.py, activities/mcp/http_limit.py) cut the server's output into
messages as it arrives and keep at most the bound of one; a longer message is skipped to its end and
its request is answered here with a JSON-RPC error naming the limit, which the run reads as an error
observation (the call is not retried: the server would answer the same).

The request a skipped reply answers is found in its first or last bytes: a JSON-RPC response puts
its `id` before or after its `result` (the Python SDK before, the TypeScript SDK after)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mcp_types import ErrorData, JSONRPCError

__all__ = ["EDGE_BYTES", "MAX_REPLY_BYTES", "REPLY_TOO_LARGE", "Framer", "Skipped", "reply_id", "too_large"]

# Far above what a model turn reads of a tool result (content.MAX_RESULT_CHARS) and room for an
# image or audio block (described, not shown), far below what would strain a worker.
MAX_REPLY_BYTES = 8 * 1024 * 1024
# A JSON-RPC "server error" code (-32000 to -32099: implementation-defined).
REPLY_TOO_LARGE = -32050
EDGE_BYTES = 1024  # kept of each end of a skipped message, to find its id

_ID = rb'(-?\d{1,30}|"(?:[^"\\]|\\.){0,256}")'
_JSONRPC = rb'"jsonrpc"\s*:\s*"2\.0"\s*,\s*'
_HEAD_ID = re.compile(rb"^\s*\{\s*(?:" + _JSONRPC + rb')?"id"\s*:\s*' + _ID + rb"\s*,")
_TAIL_ID = re.compile(rb',\s*"id"\s*:\s*' + _ID + rb'\s*(?:,\s*"jsonrpc"\s*:\s*"2\.0"\s*)?\}\s*$')


@dataclass(frozen=True)
class Skipped:
    """A message longer than the bound: its size and both ends, the rest never held."""

    size: int
    head: bytes
    tail: bytes


class Framer:
    """Cuts a byte stream into messages ending with `b"\\n"` (a stdio line, a server-sent event's
    line), holding at most `limit` bytes of the current one; a longer one comes out as `Skipped`."""

    def __init__(self, limit: int = MAX_REPLY_BYTES) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._skipping: tuple[int, bytes] | None = None  # (size so far, head) of a skipped message
        self._tail = b""

    def feed(self, data: bytes) -> list[bytes | Skipped]:
        """The messages `data` ends (each without its `\\n`)."""
        found: list[bytes | Skipped] = []
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            self._add(piece)
            if end < 0:
                break
            found.append(self._take())
            start = end + 1
        return found

    def rest(self) -> bytes | Skipped | None:
        """What the stream held after its last `\\n` (None when nothing)."""
        if self._skipping is None and not self._buffer:
            return None
        return self._take()

    def _add(self, piece: bytes) -> None:
        if self._skipping is not None:
            size, head = self._skipping
            self._skipping = (size + len(piece), head)
            self._tail = (self._tail + piece)[-EDGE_BYTES:]
        elif len(self._buffer) + len(piece) > self.limit:
            head = (bytes(self._buffer[:EDGE_BYTES]) + piece[:EDGE_BYTES])[:EDGE_BYTES]  # no copy of it all
            self._skipping = (len(self._buffer) + len(piece), head)
            self._tail = (bytes(self._buffer[-EDGE_BYTES:]) + piece[-EDGE_BYTES:])[-EDGE_BYTES:]
            self._buffer = bytearray()
        else:
            self._buffer += piece

    def _take(self) -> bytes | Skipped:
        if self._skipping is not None:
            size, head = self._skipping
            self._skipping, self._tail, tail = None, b"", self._tail
            return Skipped(size, head, tail)
        message, self._buffer = bytes(self._buffer), bytearray()
        return message


def reply_id(skipped: Skipped, prefix: bytes = b"") -> int | str | None:
    """The id of the response `skipped` was (None for a notification, or one we cannot tell).
    `prefix`: what comes before the JSON on its line (`data:` in an event stream)."""
    head = skipped.head
    if prefix and head.startswith(prefix):
        head = head[len(prefix) :]
    for pattern, edge in ((_HEAD_ID, head), (_TAIL_ID, skipped.tail)):
        match = pattern.search(edge)
        if match is not None:
            value = json.loads(match.group(1))
            if isinstance(value, int | str):
                return value
    return None


def too_large(request_id: int | str, limit: int = MAX_REPLY_BYTES) -> JSONRPCError:
    """The answer to a request whose reply was skipped: one line the model reads."""
    message = (
        f"its reply is over {limit} bytes, the most this worker reads of one MCP message; it was not read"
    )
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=REPLY_TOO_LARGE, message=message))
