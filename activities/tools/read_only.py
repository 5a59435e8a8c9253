"""`ToolActivities`: the read-only tools as activities `tool.<name>`, built once per worker.

Each method takes its input model from `catalog.py` and returns a `ToolObservation`. A failure the
model should see and can act on (bad expression, refused host, 404, unknown zone) is an observation
with `is_error=True`; a transient failure (timeout, connection error, 5xx) raises so the activity's
retry policy runs it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio import activity

from activities.tools.calculator import CalculatorError, evaluate, format_number
from activities.tools.catalog import CalculatorInput, CurrentTimeInput, HttpGetInput, SearchDocsInput
from activities.tools.current_time import current_time as time_in_zone
from activities.tools.http_get import HttpGetLimits
from activities.tools.http_get import http_get as fetch_url
from activities.tools.models import ToolObservation
from activities.tools.search_docs import DocsIndex, render_hits
from common.egress import egress_client, parse_allow_private
from common.settings import Settings

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

    def all(self) -> list[Callable[..., Any]]:
        """The activity methods, for the worker's registration list."""
        return [self.calculator, self.http_get, self.search_docs, self.current_time]

    @activity.defn(name="tool.calculator")
    async def calculator(self, params: CalculatorInput) -> ToolObservation:
        try:
            value = evaluate(params.expression)
        except CalculatorError as error:
            return ToolObservation(content=f"cannot evaluate {params.expression!r}: {error}", is_error=True)
        return ToolObservation(content=format_number(value))

    @activity.defn(name="tool.http_get")
    async def http_get(self, params: HttpGetInput) -> ToolObservation:
        return await fetch_url(self._http, params.url, self._http_limits)

    @activity.defn(name="tool.search_docs")
    async def search_docs(self, params: SearchDocsInput) -> ToolObservation:
        if not self._docs_dir.is_dir():
            return ToolObservation(content=f"no document folder at {self._docs_dir.name!r}", is_error=True)
        index = await self._index()
        return ToolObservation(content=render_hits(params.query, index.search(params.query, params.limit)))

    @activity.defn(name="tool.current_time")
    async def current_time(self, params: CurrentTimeInput) -> ToolObservation:
        return time_in_zone(params.timezone)

    async def _index(self) -> DocsIndex:
        async with self._docs_lock:
            if self._docs_index is None:
                self._docs_index = await asyncio.to_thread(DocsIndex.build, self._docs_dir)
            return self._docs_index
