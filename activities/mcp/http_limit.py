"""Streamable HTTP replies read within `reply_limit.MAX_REPLY_BYTES`: the `mcp` SDK reads a JSON reply
whole (`response.aread()`) and bounds a server-sent event only at 1 MiB with a transport error (the
call retried). A response hook of the client (httpx's public `event_hooks`, so it applies whatever
transport or proxy the client picks) puts a bounded reader in front of every response:

- a JSON body (one message) is read up to the bound, after decoding its `Content-Encoding` in small
  steps (common/http_body.py), and a longer one is replaced by `reply_limit.too_large` for the
  request it answers;
- an event stream is cut into lines as it arrives, and a `data:` line over the bound is replaced by
  that answer (to the id it names, else the request of the POST).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx2
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import JSONRPCError

from activities.mcp.reply_limit import MAX_REPLY_BYTES, Framer, Skipped, reply_id, too_large
from common.http_body import BodyError, BoundedDecoder

__all__ = ["MAX_EVENT_BYTES", "bound_reply", "bounded_http_client"]

log = logging.getLogger(__name__)

# The SDK's own limit on one event (several lines): a bound line plus its `event:` and `id:` lines.
MAX_EVENT_BYTES = MAX_REPLY_BYTES + 64 * 1024
_DATA = b"data:"


def bounded_http_client(headers: dict[str, str], timeout: httpx2.Timeout) -> httpx2.AsyncClient:
    """The client the SDK's `create_mcp_http_client` makes, with `bound_reply` on every response."""
    client = create_mcp_http_client(headers=headers, timeout=timeout)
    hooks = client.event_hooks
    client.event_hooks = {
        "request": hooks.get("request", []),
        "response": [*hooks.get("response", []), bound_reply],
    }
    return client


async def bound_reply(response: httpx2.Response, limit: int = MAX_REPLY_BYTES) -> None:
    """Replaces the body `response` has not read yet by one read within `limit` bytes a message."""
    try:
        decoder = BoundedDecoder(response.headers.get_list("content-encoding"))
    except BodyError as error:
        await response.aclose()
        raise httpx2.DecodingError(str(error), request=response.request) from None
    upstream = response.stream
    assert isinstance(upstream, httpx2.AsyncByteStream)
    request_id = _request_id(response.request)
    if "content-encoding" in response.headers:
        del response.headers["content-encoding"]  # decoded here
    if response.headers.get("content-type", "").lower().startswith("text/event-stream"):
        response.stream = _EventLines(upstream, decoder, limit, request_id)
        return
    body = bytearray()
    try:
        async for chunk in upstream:
            for piece in decoder.feed(chunk):
                body += piece
                if len(body) > limit:
                    break
            if len(body) > limit:
                break
    except BodyError as error:
        raise httpx2.DecodingError(str(error), request=response.request) from None
    finally:
        await upstream.aclose()
    if len(body) > limit:
        log.warning("MCP server %s: a reply over %d bytes was not read", response.request.url.host, limit)
        answer = b"" if request_id is None else _dumped(too_large(request_id, limit))
        body = bytearray(answer)
        response.headers["content-type"] = "application/json"
    response.headers["content-length"] = str(len(body))
    response.stream = httpx2.ByteStream(bytes(body))


class _EventLines(httpx2.AsyncByteStream):
    def __init__(
        self,
        upstream: httpx2.AsyncByteStream,
        decoder: BoundedDecoder,
        limit: int,
        request_id: int | str | None,
    ) -> None:
        self._upstream = upstream
        self._decoder = decoder
        self._limit = limit
        self._request_id = request_id

    async def __aiter__(self) -> AsyncIterator[bytes]:
        framer = Framer(self._limit)
        async for chunk in self._upstream:
            for piece in self._decoder.feed(chunk):
                for line in framer.feed(piece):
                    out = self._line(line)
                    if out is not None:
                        yield out + b"\n"
        rest = framer.rest()
        if rest is not None:
            out = self._line(rest)
            if out is not None:
                yield out

    def _line(self, line: bytes | Skipped) -> bytes | None:
        if not isinstance(line, Skipped):
            return line
        request_id = reply_id(line, prefix=_DATA) if line.head.startswith(_DATA) else None
        if request_id is None and line.head.startswith(_DATA):
            request_id = self._request_id
        if request_id is None:
            log.warning(
                "MCP server: dropped a line of %d bytes of an event stream (over %d)", line.size, self._limit
            )
            return None
        return _DATA + b" " + _dumped(too_large(request_id, self._limit))

    async def aclose(self) -> None:
        await self._upstream.aclose()


def _request_id(request: httpx2.Request) -> int | str | None:
    """The id of the JSON-RPC request this HTTP request carries (None: a notification, a GET...)."""
    if request.method != "POST":
        return None
    try:
        message = json.loads(request.content)
    except (ValueError, httpx2.RequestNotRead):
        return None
    if isinstance(message, dict) and "method" in message and isinstance(message.get("id"), int | str):
        value: int | str = message["id"]
        return value
    return None


def _dumped(message: JSONRPCError) -> bytes:
    return message.model_dump_json(by_alias=True, exclude_unset=True).encode()
