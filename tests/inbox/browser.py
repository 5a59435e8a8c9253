"""The real parts of the inbox's end-to-end tests: Debian's Chromium driven by Playwright (never a
downloaded browser), and the inbox served by uvicorn on 127.0.0.1 with an ephemeral port."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import uvicorn
from playwright.async_api import Browser, async_playwright
from starlette.types import ASGIApp

from common.settings import Settings
from inbox.app import build_app

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Debian's `chromium` (installed by `make test`); Playwright's own browser builds are never used."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("Chromium is missing: `make test` installs it (apt-get install chromium)")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class _QuietServer(uvicorn.Server):
    """uvicorn inside the test's event loop: it must not take over the test runner's signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def served_inbox(settings: Settings) -> AsyncIterator[str]:
    """The inbox app, its start-up included (it connects to Temporal from `settings`), served until
    the block ends; yields its base URL."""
    async with served_app(build_app(settings)) as base_url:
        yield base_url


@contextlib.asynccontextmanager
async def served_app(app: ASGIApp) -> AsyncIterator[str]:
    """`app` served by uvicorn on 127.0.0.1 (an ephemeral port) until the block ends; yields its
    base URL once `/healthz` answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)  # connections wait in the backlog until uvicorn accepts them: no start-up race
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _QuietServer(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with httpx.AsyncClient() as http:
            probe = asyncio.create_task(http.get(f"{base_url}/healthz", timeout=30))
            done, _ = await asyncio.wait({serving, probe}, return_when=asyncio.FIRST_COMPLETED)
            if serving in done:
                probe.cancel()
                raise RuntimeError("the inbox stopped during start-up (see the log above)")
            (await probe).raise_for_status()
        yield base_url
    finally:
        server.should_exit = True
        await serving
        sock.close()
