"""The `http_get` tool: fetch a URL on an allowed host, as text, within size and time caps.

What the model should read (a refused host, a 404, a non-text body) comes back as an error
observation; what may heal on its own (timeouts, connection errors, 429/5xx) raises, so the activity's
retry policy tries again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from activities.tools.models import ToolObservation

MAX_REDIRECTS = 5
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml", "+json", "+xml")
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransientFetchError(Exception):
    """The server may answer next time (a 5xx or 429): the activity raises it so Temporal retries."""


@dataclass(frozen=True)
class HttpGetLimits:
    allowlist: frozenset[str]
    max_bytes: int
    timeout_s: float


def check_url(url: str, allowlist: frozenset[str]) -> httpx.URL:
    """The parsed URL if it is http(s) on an allowed host; `ValueError` with a reason otherwise.
    An empty allowlist allows no host: fetching is opt-in per deployment."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise ValueError(f"invalid URL {url!r}: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs can be fetched, not {parsed.scheme or 'no scheme'!r}")
    host = parsed.host.lower()
    if not host:
        raise ValueError(f"URL {url!r} has no host")
    if host not in allowlist:
        allowed = ", ".join(sorted(allowlist)) or "none (TOOLS_HTTP_ALLOWLIST is empty)"
        raise ValueError(f"host {host!r} is not allowed; allowed hosts: {allowed}")
    return parsed


async def http_get(client: httpx.AsyncClient, url: str, limits: HttpGetLimits) -> ToolObservation:
    """GET `url`, following redirects only to allowed hosts, reading at most `limits.max_bytes`."""
    try:
        target = check_url(url, limits.allowlist)
    except ValueError as error:
        return ToolObservation(content=str(error), is_error=True)
    try:
        # One deadline for the whole fetch, redirects included: httpx's own timeouts are per read,
        # so a server trickling bytes would otherwise hold the activity for far longer.
        async with asyncio.timeout(limits.timeout_s):
            return await _fetch(client, target, limits)
    except TimeoutError:
        raise TimeoutError(f"GET {url} took longer than {limits.timeout_s:g} s") from None


async def _fetch(client: httpx.AsyncClient, target: httpx.URL, limits: HttpGetLimits) -> ToolObservation:
    for _ in range(MAX_REDIRECTS + 1):
        async with client.stream("GET", target, follow_redirects=False) as response:
            if response.is_redirect:
                location = response.headers.get("location", "")
                try:
                    target = check_url(str(target.join(location)), limits.allowlist)
                except ValueError as error:
                    return ToolObservation(content=f"redirect refused: {error}", is_error=True)
                continue
            if response.status_code in _RETRYABLE_STATUS:
                raise TransientFetchError(f"GET {target} answered {response.status_code}")
            body, truncated = await _read_capped(response, limits.max_bytes)
            return _observation(target, response, body, truncated)
    return ToolObservation(content=f"more than {MAX_REDIRECTS} redirects from {target}", is_error=True)


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """Read the body up to `max_bytes`, then stop reading: a large body is never downloaded whole."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], True
    return b"".join(chunks), False


def _observation(url: httpx.URL, response: httpx.Response, body: bytes, truncated: bool) -> ToolObservation:
    content_type = response.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    header = f"HTTP {response.status_code} {url}\ncontent-type: {content_type or 'unknown'}"
    if media_type and not any(marker in media_type for marker in _TEXT_TYPES):
        return ToolObservation(content=f"{header}\nthe body is not text ({media_type})", is_error=True)
    # A cut can split a multi-byte character: drop the broken tail rather than show a replacement mark.
    try:
        text = body.decode(response.encoding or "utf-8", errors="ignore" if truncated else "replace")
    except LookupError:  # an unknown charset in the header
        text = body.decode("utf-8", errors="replace")
    if truncated:
        text += f"\n[truncated at {len(body)} bytes]"
    return ToolObservation(content=f"{header}\n\n{text}", is_error=response.is_error)
