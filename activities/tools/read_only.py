"""`ToolActivities`: what the `http_get` and `search_docs` tools share for a worker's lifetime (one
HTTP pool behind the egress policy, the limits from settings, the document index built on first
search), made once per worker through `activities.resources`.

A failure the model should see and can act on (refused host, 404) is an observation with
`is_error=True`; a transient failure (timeout, connection error, 5xx) raises so the activity's retry
policy runs it again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from activities.tools.http_get import HttpGetInput, HttpGetLimits
from activities.tools.http_get import http_get as fetch_url
from activities.tools.search_docs import DocsIndex, SearchDocsInput, render_hits
from common.contracts.tools import ToolObservation
from common.egress import egress_client, parse_allow_private
from common.settings import Settings

__all__ = ["ToolActivities"]

USER_AGENT = "ai-workflows-http-get/1"


class ToolActivities:
    """Holds what the tools share for the worker's lifetime: one HTTP connection pool, the limits
    from settings, and the document index (built on first search)."""

    def __init__(self, http_client: httpx.AsyncClient, http_limits: HttpGetLimits, docs_dir: Path):
        self._http = http_client
        self._http_limits = http_limits
        self._docs_dir = docs_dir
        self._docs_index: DocsIndex | None = None
        self._docs_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ToolActivities:
        limits = HttpGetLimits(
            allowlist=settings.http_allowlist,
            max_bytes=settings.tools_http_max_bytes,
            timeout_s=settings.tools_http_timeout_s,
        )
        # The egress client: no environment proxies, and a private address is refused at connect time.
        client = egress_client(
            parse_allow_private(settings.egress_allow_private),
            timeout=httpx.Timeout(settings.tools_http_timeout_s),
            headers={"user-agent": USER_AGENT},
        )
        return cls(client, limits, settings.tools_docs_dir)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def http_get(self, params: HttpGetInput) -> ToolObservation:
        return await fetch_url(self._http, params.url, self._http_limits)

    async def search_docs(self, params: SearchDocsInput) -> ToolObservation:
        if not self._docs_dir.is_dir():
            return ToolObservation(content=f"no document folder at {self._docs_dir.name!r}", is_error=True)
        index = await self._index()
        return ToolObservation(content=render_hits(params.query, index.search(params.query, params.limit)))

    async def _index(self) -> DocsIndex:
        async with self._docs_lock:
            if self._docs_index is None:
                self._docs_index = await asyncio.to_thread(DocsIndex.build, self._docs_dir)
            return self._docs_index
