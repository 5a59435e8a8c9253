"""http_get against a real HTTP server on 127.0.0.1: allowlist, redirects, size and time caps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from activities.tools.catalog import HttpGetInput
from activities.tools.http_get import HttpGetLimits, TransientFetchError, check_url
from activities.tools.read_only import ToolActivities
from tests.tools.conftest import LocalServer

ALLOW_LOCAL = frozenset({"127.0.0.1"})


@pytest_asyncio.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def tools(client: httpx.AsyncClient, *, allow=ALLOW_LOCAL, max_bytes=10_000, timeout_s=5.0) -> ToolActivities:
    return ToolActivities(client, HttpGetLimits(allow, max_bytes, timeout_s), Path("unused"))


async def test_fetches_text_from_allowed_host(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client).http_get(HttpGetInput(url=f"{local_server.base_url}/hello"))
    assert not observation.is_error
    assert observation.content.startswith("HTTP 200 ")
    assert "héllo from the local server" in observation.content


async def test_json_is_text(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client).http_get(HttpGetInput(url=f"{local_server.base_url}/json"))
    assert not observation.is_error and '{"answer": 42}' in observation.content


async def test_empty_allowlist_allows_no_host_and_sends_nothing(
    http_client, local_server: LocalServer
) -> None:
    observation = await tools(http_client, allow=frozenset()).http_get(
        HttpGetInput(url=f"{local_server.base_url}/hello")
    )
    assert observation.is_error
    assert (
        "'127.0.0.1' is not allowed" in observation.content and "TOOLS_HTTP_ALLOWLIST" in observation.content
    )
    assert local_server.state.paths == []


async def test_host_not_on_allowlist_is_refused(http_client, local_server: LocalServer) -> None:
    port = local_server.base_url.rsplit(":", 1)[1]
    observation = await tools(http_client).http_get(HttpGetInput(url=f"http://localhost:{port}/hello"))
    assert observation.is_error and "'localhost' is not allowed" in observation.content
    assert local_server.state.paths == []


async def test_redirect_within_allowlist_is_followed(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client).http_get(HttpGetInput(url=f"{local_server.base_url}/to-hello"))
    assert not observation.is_error and "héllo" in observation.content
    assert local_server.state.paths == ["/to-hello", "/hello"]


async def test_redirect_to_other_host_is_refused(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client).http_get(HttpGetInput(url=f"{local_server.base_url}/to-localhost"))
    assert observation.is_error and "redirect refused" in observation.content
    assert local_server.state.paths == ["/to-localhost"]


async def test_redirect_loop_ends(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client).http_get(HttpGetInput(url=f"{local_server.base_url}/loop"))
    assert observation.is_error and "redirects" in observation.content
    assert len(local_server.state.paths) == 6  # the first request and five redirects


async def test_not_found_is_an_error_observation(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client).http_get(HttpGetInput(url=f"{local_server.base_url}/missing"))
    assert observation.is_error
    assert observation.content.startswith("HTTP 404") and "no such page" in observation.content


async def test_binary_body_is_refused(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client).http_get(HttpGetInput(url=f"{local_server.base_url}/image"))
    assert observation.is_error and "not text (image/png)" in observation.content


async def test_body_is_cut_at_max_bytes_without_reading_it_all(
    http_client, local_server: LocalServer
) -> None:
    max_bytes = 100_000
    observation = await tools(http_client, max_bytes=max_bytes).http_get(
        HttpGetInput(url=f"{local_server.base_url}/endless")
    )
    assert not observation.is_error
    body = observation.content.split("\n\n", 1)[1]
    assert body.endswith(f"[truncated at {max_bytes} bytes]")
    assert body.count("x") == max_bytes
    # The server would send 64 MiB; the client stopped after the cap (socket buffers absorb a little).
    assert local_server.state.bytes_sent_endless < 16 * 1024 * 1024


async def test_server_error_raises_so_temporal_retries(http_client, local_server: LocalServer) -> None:
    local_server.state.flaky_failures = 1
    with pytest.raises(TransientFetchError, match="503"):
        await tools(http_client).http_get(HttpGetInput(url=f"{local_server.base_url}/flaky"))


async def test_slow_server_raises_timeout(http_client, local_server: LocalServer) -> None:
    with pytest.raises(TimeoutError, match=r"longer than 0\.3 s"):
        await tools(http_client, timeout_s=0.3).http_get(HttpGetInput(url=f"{local_server.base_url}/slow"))


async def test_unreachable_host_raises(http_client) -> None:
    # Port 1 on 127.0.0.1: connection refused, a transient failure for Temporal to retry.
    with pytest.raises(httpx.ConnectError):
        await tools(http_client).http_get(HttpGetInput(url="http://127.0.0.1:1/"))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/file", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("127.0.0.1/hello", "only http and https"),
        ("http://", "no host"),
        ("http://[::1", "invalid URL"),
    ],
)
def test_check_url_refuses_what_is_not_a_web_url(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_url(url, ALLOW_LOCAL)


def test_check_url_is_case_insensitive_on_host() -> None:
    assert check_url("HTTP://127.0.0.1:8080/x", ALLOW_LOCAL).port == 8080
