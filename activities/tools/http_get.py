"""The `http_get` tool: fetch a URL on an allowed origin, as text, within size and time caps.

`TOOLS_HTTP_ALLOWLIST` entries pin scheme, host and port: `https://api.example.com`,
`http://10.0.0.5:8080`, `api.example.com:8443` (https on 8443); a bare host means https on 443. The
client comes from `common.egress`, so an allowed name that resolves to a private address is still
refused at connect time unless EGRESS_ALLOW_PRIVATE names it. The body cap holds after decompression
(`common.http_body`), and one deadline covers the whole fetch, redirects and body included.

What the model should read (a refused host, a 404, a non-text body) comes back as an error
observation; what may heal on its own (timeouts, connection errors, 429/5xx) raises, so the activity's
retry policy tries again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from pydantic import BaseModel, ConfigDict, Field

from activities.resources import resources
from activities.tools.declare import tool
from common.contracts.tools import ToolObservation
from common.egress import DEFAULT_PORT as _DEFAULT_PORT
from common.egress import EgressRefused
from common.egress import parse_origin as allowed_origin
from common.http_body import BodyError, read_capped

__all__ = ["HttpGetInput", "HttpGetLimits", "TransientFetchError", "check_url", "http_get", "http_get_tool"]

MAX_REDIRECTS = 5
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml", "+json", "+xml")
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpGetInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="http(s) URL on an allowed host")


@tool(name="http_get", description="Fetch a web page or API response from an allowed host; returns text.")
async def http_get_tool(params: HttpGetInput) -> ToolObservation:
    from activities.tools.read_only import ToolActivities  # the worker's pool, limits and allowlist

    return await resources().get("tools", ToolActivities.from_settings).http_get(params)


class TransientFetchError(Exception):
    """The server may answer next time (a 5xx or 429): the activity raises it so Temporal retries."""


@dataclass(frozen=True)
class HttpGetLimits:
    allowlist: frozenset[str]  # TOOLS_HTTP_ALLOWLIST entries (see `allowed_origin`)
    max_bytes: int
    timeout_s: float

    def __post_init__(self) -> None:
        for entry in self.allowlist:
            try:
                allowed_origin(entry)
            except ValueError as error:
                raise ValueError(f"TOOLS_HTTP_ALLOWLIST {error}") from None


def _shown(origin: tuple[str, str, int]) -> str:
    scheme, host, port = origin
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def check_url(url: str, allowlist: frozenset[str]) -> httpx.URL:
    """The parsed URL if its scheme, host and port are on the allowlist; `ValueError` with a reason
    otherwise. An empty allowlist allows nothing: fetching is opt-in per deployment."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise ValueError(f"invalid URL {url!r}: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs can be fetched, not {parsed.scheme or 'no scheme'!r}")
    host = parsed.host.lower()
    if not host:
        raise ValueError(f"URL {url!r} has no host")
    origins = {allowed_origin(entry) for entry in allowlist}
    if host not in {allowed_host for _, allowed_host, _ in origins}:
        allowed = ", ".join(sorted(_shown(o) for o in origins)) or "none (TOOLS_HTTP_ALLOWLIST is empty)"
        raise ValueError(f"host {host!r} is not allowed; allowed: {allowed}")
    origin = (parsed.scheme, host, parsed.port or _DEFAULT_PORT[parsed.scheme])
    if origin not in origins:
        allowed = ", ".join(sorted(_shown(o) for o in origins if o[1] == host))
        raise ValueError(f"{_shown(origin)} is not allowed (scheme and port are pinned); allowed: {allowed}")
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
    except EgressRefused as error:
        return ToolObservation(content=f"GET {url} refused: {error}", is_error=True)
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
            try:
                body, truncated = await read_capped(response, limits.max_bytes)
            except BodyError as error:
                return ToolObservation(
                    content=f"HTTP {response.status_code} {target}: {error}", is_error=True
                )
            return _observation(target, response, body, truncated)
    return ToolObservation(content=f"more than {MAX_REDIRECTS} redirects from {target}", is_error=True)


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
