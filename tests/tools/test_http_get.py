"""http_get against a real HTTP server on 127.0.0.1: allowlist, redirects, size and time caps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from activities.tools.http_get import HttpGetInput, HttpGetLimits, TransientFetchError, check_url
from activities.tools.read_only import ToolActivities
from common.egress import egress_client, parse_allow_private
from tests.tools.conftest import LocalServer

LOOPBACK = parse_allow_private("127.0.0.1")  # the local servers are on loopback: allowed by name
ALLOW_LOCAL = frozenset({"http://127.0.0.1"})  # port 80: the tests' servers are allowed per port


@pytest_asyncio.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with egress_client(LOOPBACK, timeout=httpx.Timeout(5.0)) as client:
        yield client


def origin(url: str) -> str:
    """The allowlist entry for a test server: `http://127.0.0.1:PORT`."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"


def tools(
    client: httpx.AsyncClient,
    server: LocalServer | str | None = None,
    *,
    allow: frozenset[str] | None = None,
    max_bytes: int = 10_000,
    timeout_s: float = 5.0,
) -> ToolActivities:
    if allow is None:
        base = server.base_url if isinstance(server, LocalServer) else server
        allow = frozenset({origin(base)}) if base else ALLOW_LOCAL
    return ToolActivities(client, HttpGetLimits(allow, max_bytes, timeout_s), Path("unused"))


async def test_fetches_text_from_allowed_host(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client, local_server).http_get(
        HttpGetInput(url=f"{local_server.base_url}/hello")
    )
    assert not observation.is_error
    assert observation.content.startswith("HTTP 200 ")
    assert "héllo from the local server" in observation.content


async def test_json_is_text(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client, local_server).http_get(
        HttpGetInput(url=f"{local_server.base_url}/json")
    )
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
    observation = await tools(http_client, local_server).http_get(
        HttpGetInput(url=f"http://localhost:{port}/hello")
    )
    assert observation.is_error and "'localhost' is not allowed" in observation.content
    assert local_server.state.paths == []


async def test_redirect_within_allowlist_is_followed(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client, local_server).http_get(
        HttpGetInput(url=f"{local_server.base_url}/to-hello")
    )
    assert not observation.is_error and "héllo" in observation.content
    assert local_server.state.paths == ["/to-hello", "/hello"]


async def test_redirect_to_other_host_is_refused(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client, local_server).http_get(
        HttpGetInput(url=f"{local_server.base_url}/to-localhost")
    )
    assert observation.is_error and "redirect refused" in observation.content
    assert local_server.state.paths == ["/to-localhost"]


async def test_redirect_loop_ends(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client, local_server).http_get(
        HttpGetInput(url=f"{local_server.base_url}/loop")
    )
    assert observation.is_error and "redirects" in observation.content
    assert len(local_server.state.paths) == 6  # the first request and five redirects


async def test_not_found_is_an_error_observation(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client, local_server).http_get(
        HttpGetInput(url=f"{local_server.base_url}/missing")
    )
    assert observation.is_error
    assert observation.content.startswith("HTTP 404") and "no such page" in observation.content


async def test_binary_body_is_refused(http_client, local_server: LocalServer) -> None:
    observation = await tools(http_client, local_server).http_get(
        HttpGetInput(url=f"{local_server.base_url}/image")
    )
    assert observation.is_error and "not text (image/png)" in observation.content


async def test_body_is_cut_at_max_bytes_without_reading_it_all(
    http_client, local_server: LocalServer
) -> None:
    max_bytes = 100_000
    observation = await tools(http_client, local_server, max_bytes=max_bytes).http_get(
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
        await tools(http_client, local_server).http_get(HttpGetInput(url=f"{local_server.base_url}/flaky"))


async def test_slow_server_raises_timeout(http_client, local_server: LocalServer) -> None:
    with pytest.raises(TimeoutError, match=r"longer than 0\.3 s"):
        await tools(http_client, local_server, timeout_s=0.3).http_get(
            HttpGetInput(url=f"{local_server.base_url}/slow")
        )


async def test_unreachable_host_raises(http_client) -> None:
    # Port 1 on 127.0.0.1: connection refused, a transient failure for Temporal to retry.
    with pytest.raises(httpx.ConnectError):
        await tools(http_client, "http://127.0.0.1:1").http_get(HttpGetInput(url="http://127.0.0.1:1/"))


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
    assert check_url("HTTP://127.0.0.1:8080/x", frozenset({"http://127.0.0.1:8080"})).port == 8080


@pytest.mark.parametrize(
    ("entry", "url", "allowed"),
    [
        ("api.example.com", "https://api.example.com/x", True),  # a bare host: https on 443
        ("api.example.com", "http://api.example.com/x", False),
        ("api.example.com", "https://api.example.com:8443/x", False),
        ("api.example.com:8443", "https://api.example.com:8443/x", True),
        ("api.example.com:8443", "http://api.example.com:8443/x", False),
        ("http://10.0.0.5:8080", "http://10.0.0.5:8080/x", True),
        ("http://10.0.0.5:8080", "http://10.0.0.5/x", False),
        ("https://[::1]:8443", "https://[::1]:8443/x", True),
    ],
)
def test_allowlist_entries_pin_scheme_and_port(entry: str, url: str, allowed: bool) -> None:
    if allowed:
        check_url(url, frozenset({entry}))
    else:
        with pytest.raises(ValueError, match="scheme and port are pinned"):
            check_url(url, frozenset({entry}))


@pytest.mark.parametrize("entry", ["ftp://h", "https://h/path", "https://user:pw@h", "h:notaport"])
def test_a_bad_allowlist_entry_stops_at_start(entry: str) -> None:
    with pytest.raises(ValueError, match="TOOLS_HTTP_ALLOWLIST entry"):
        HttpGetLimits(frozenset({entry}), 1000, 1.0)


async def test_port_not_on_allowlist_is_refused_before_any_request(
    http_client, local_server: LocalServer
) -> None:
    observation = await tools(http_client, allow=frozenset({"http://127.0.0.1:1"})).http_get(
        HttpGetInput(url=f"{local_server.base_url}/hello")
    )
    assert observation.is_error and "scheme and port are pinned" in observation.content
    assert local_server.state.paths == []
