"""Reading an HTTP body within a byte cap that holds *after* decompression, in small steps.

httpx decodes `Content-Encoding` itself, one network chunk at a time and without an output limit, so
a 2 KB double-gzip body can inflate to gigabytes in one call that blocks the event loop. Here the raw
bytes are inflated layer by layer, each call producing at most `STEP` bytes, the reader stops as soon
as the cap is passed, and it yields to the event loop between steps (heartbeats and timeouts run).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterator

import httpx

__all__ = ["STEP", "BodyError", "BoundedDecoder", "read_capped"]

STEP = 64 * 1024
MAX_LAYERS = 3
_GZIP = ("gzip", "x-gzip")


class BodyError(Exception):
    """The body cannot be decoded (an unsupported or corrupt encoding)."""


class _Inflater:
    """One gzip/deflate layer; `deflate` may be zlib-wrapped (RFC) or raw (common in practice)."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._gzip = encoding in _GZIP
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def pieces(self, data: bytes) -> Iterator[bytes]:
        while not self._z.eof:
            try:
                out = self._z.decompress(data, STEP)
            except zlib.error as error:
                if not self._gzip and not self._started:  # raw deflate: start again without a header
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._started = True
                    continue
                raise BodyError(f"corrupt {self._encoding} body: {error}") from None
            self._started = True
            data = self._z.unconsumed_tail
            if out:
                yield out
            # A full step may leave output inside zlib with no input left: ask again until it is short.
            if not data and len(out) < STEP:
                return


class BoundedDecoder:
    """Decodes the `Content-Encoding` layers of a body incrementally, in pieces of at most `STEP`."""

    def __init__(self, content_encoding: list[str]) -> None:
        codings = [c.strip().lower() for c in content_encoding if c.strip().lower() not in ("", "identity")]
        unsupported = sorted({c for c in codings if c not in (*_GZIP, "deflate")})
        if unsupported:
            raise BodyError(f"content-encoding {', '.join(unsupported)} is not supported")
        if len(codings) > MAX_LAYERS:
            raise BodyError(f"more than {MAX_LAYERS} content-encoding layers")
        self._layers = [_Inflater(c) for c in reversed(codings)]  # the last one applied comes off first

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, data)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._layers):
            if data:
                yield data
            return
        for piece in self._layers[index].pieces(data):
            yield from self._through(index + 1, piece)


async def read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """The decoded body up to `max_bytes` and whether it was cut. Reads no further than needed: a huge
    or endless body is never downloaded or inflated whole. Raises `BodyError`."""
    decoder = BoundedDecoder(response.headers.get_list("content-encoding", split_commas=True))
    body = bytearray()
    async for raw in response.aiter_raw(STEP):
        for piece in decoder.feed(raw):
            body += piece
            if len(body) > max_bytes:
                return bytes(body[:max_bytes]), True
            await asyncio.sleep(0)  # one step of inflating at a time, then the event loop's turn
    return bytes(body), False
