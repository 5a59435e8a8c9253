"""http_get against hostile servers and destinations: a double-gzip bomb, a slow-drip body, an allowed
name that resolves to a private address, private address literals."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import httpx
import pytest

from activities.tools.http_get import HttpGetInput, HttpGetLimits
from activities.tools.read_only import ToolActivities
from common.egress import EgressPolicy, egress_client, parse_allow_private
from tests.fakes.receivers import HostileHttpServer
from tests.tools.conftest import LocalServer

LOOPBACK = parse_allow_private("127.0.0.1")


def tools(client: httpx.AsyncClient, allow: set[str], max_bytes: int = 10_000, timeout_s: float = 5.0):
    return ToolActivities(client, HttpGetLimits(frozenset(allow), max_bytes, timeout_s), Path("unused"))


def fixed_resolver(table: dict[str, list[str]]):
    """A resolver answering from `table` (what a hostile DNS server would say)."""

    async def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


async def test_a_double_gzip_bomb_is_cut_at_the_cap_after_decompression(hostile: HostileHttpServer) -> None:
    """590 bytes on the wire, 256 MB inflated: the tool returns max_bytes of text and never holds more
    than a few steps of inflated data (httpx's own decoder inflates a whole chunk in one call)."""
    async with egress_client(LOOPBACK, timeout=httpx.Timeout(5.0)) as client:
        tracemalloc.start()
        try:
            started = time.monotonic()
            observation = await tools(client, {hostile.url}, max_bytes=100_000).http_get(
                HttpGetInput(url=f"{hostile.url}/bomb")
            )
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert not observation.is_error, observation.content
    assert observation.content.endswith("[truncated at 100000 bytes]")
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    assert elapsed < 2.0


async def test_a_redirect_to_a_bomb_is_cut_too(hostile: HostileHttpServer) -> None:
    async with egress_client(LOOPBACK, timeout=httpx.Timeout(5.0)) as client:
        observation = await tools(client, {hostile.url}, max_bytes=1000).http_get(
            HttpGetInput(url=f"{hostile.url}/redirect")
        )
    assert observation.content.endswith("[truncated at 1000 bytes]")
    assert hostile.state.paths == ["/redirect", "/bomb"]


async def test_a_slow_drip_body_cannot_hold_the_fetch_past_its_deadline(hostile: HostileHttpServer) -> None:
    async with egress_client(LOOPBACK, timeout=httpx.Timeout(5.0)) as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"longer than 0\.5 s"):
            await tools(client, {hostile.url}, timeout_s=0.5).http_get(
                HttpGetInput(url=f"{hostile.url}/drip")
            )
    assert time.monotonic() - started < 2.0
    assert hostile.state.drip_stopped.wait(5)  # the connection was closed: the server stopped dripping


async def test_an_allowed_name_resolving_to_loopback_is_refused_at_connect_time(
    local_server: LocalServer,
) -> None:
    """`api.test` is on the allowlist, but DNS says 127.0.0.1: refused when connecting, unless
    EGRESS_ALLOW_PRIVATE names the address or the host."""
    port = httpx.URL(local_server.base_url).port
    url, allow = f"http://api.test:{port}/hello", {f"http://api.test:{port}"}
    resolver = fixed_resolver({"api.test": ["127.0.0.1"]})
    async with egress_client(EgressPolicy(), timeout=httpx.Timeout(5.0), resolver=resolver) as client:
        refused = await tools(client, allow).http_get(HttpGetInput(url=url))
    assert refused.is_error
    assert "api.test (127.0.0.1) is a loopback address" in refused.content
    assert "EGRESS_ALLOW_PRIVATE" in refused.content
    assert local_server.state.paths == []
    for allowed in ("127.0.0.1", "127.0.0.0/8", "api.test"):
        policy = parse_allow_private(allowed)
        async with egress_client(policy, timeout=httpx.Timeout(5.0), resolver=resolver) as client:
            fetched = await tools(client, allow).http_get(HttpGetInput(url=url))
        assert not fetched.is_error and "héllo" in fetched.content, allowed
    assert local_server.state.paths == ["/hello"] * 3


async def test_one_private_answer_among_public_ones_refuses_the_name() -> None:
    resolver = fixed_resolver({"api.test": ["93.184.215.14", "10.1.2.3"]})
    async with egress_client(EgressPolicy(), timeout=httpx.Timeout(5.0), resolver=resolver) as client:
        observation = await tools(client, {"http://api.test"}).http_get(HttpGetInput(url="http://api.test/"))
    assert observation.is_error and "10.1.2.3" in observation.content and "private" in observation.content


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("169.254.169.254", "link-local"),
        ("[::1]", "loopback"),
        ("10.0.0.7", "private"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("[fd00::1]", "private"),
    ],
)
async def test_private_address_literals_are_refused(host: str, kind: str) -> None:
    async with egress_client(EgressPolicy(), timeout=httpx.Timeout(5.0)) as client:
        observation = await tools(client, {f"http://{host}"}).http_get(HttpGetInput(url=f"http://{host}/"))
    assert observation.is_error and f"a {kind} address" in observation.content
