"""The egress policy (common/egress.py): what counts as a private destination, EGRESS_ALLOW_PRIVATE
entries, the connect-time check under httpx, and TLS still verified against the host name."""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from common.egress import EgressPolicy, EgressRefused, address_kind, egress_client, parse_allow_private
from common.settings import SettingsError, try_load_settings
from tests.delivery.self_signed import make_certificate, server_context


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "non-global"),
        ("224.0.0.1", "multicast"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1"])
def test_ipv4_mapped_ipv6_is_checked_as_the_ipv4_address(address: str) -> None:
    with pytest.raises(EgressRefused):
        EgressPolicy().check(address, address)
    parse_allow_private("0.0.0.0/0").check(address, address)  # an IPv4 network covers it


def test_allow_private_entries() -> None:
    policy = parse_allow_private(" 127.0.0.1, 10.0.0.0/8 ,[::1], Hooks.Internal. ")
    policy.check("127.0.0.1", "127.0.0.1")
    policy.check("svc", "10.200.0.1")
    policy.check("::1", "::1")
    policy.check("hooks.internal", "192.168.7.7")  # a named host may resolve anywhere
    for host, address in (
        ("127.0.0.2", "127.0.0.2"),
        ("svc", "192.168.0.1"),
        ("other.internal", "172.16.0.1"),
    ):
        with pytest.raises(EgressRefused, match="EGRESS_ALLOW_PRIVATE"):
            policy.check(host, address)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "http://x", "a..b", "x/y"])
def test_a_bad_allow_private_entry_stops_at_start(entry: str) -> None:
    with pytest.raises(SettingsError, match="EGRESS_ALLOW_PRIVATE"):
        try_load_settings(egress_allow_private=entry, _env_file=None)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate names `localhost` and 127.0.0.1 only."""
    cert, key = make_certificate(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context(cert, key).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert
    finally:
        server.shutdown()
        server.server_close()


async def test_tls_is_verified_against_the_host_name_not_the_checked_address(
    tls_server: tuple[int, Path],
) -> None:
    """The connection goes to the resolved address, but the certificate must match the URL's name:
    `localhost` (on the certificate) works, `hooks.test` resolving to the same address does not."""
    port, cert = tls_server

    async def resolve(host: str, port: int) -> list[str]:
        return {"localhost": ["127.0.0.1"], "hooks.test": ["127.0.0.1"]}[host]

    trust = ssl.create_default_context(cafile=str(cert))
    policy = parse_allow_private("127.0.0.1")
    async with egress_client(policy, timeout=httpx.Timeout(5.0), resolver=resolve, verify=trust) as client:
        assert (await client.get(f"https://localhost:{port}/")).text == "ok"
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            await client.get(f"https://hooks.test:{port}/")


async def test_environment_proxies_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy would be the only address ever checked: the egress client never uses one."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:1")
    async with egress_client(EgressPolicy(), timeout=httpx.Timeout(5.0)) as client:
        with pytest.raises(EgressRefused, match=r"10\.9\.8\.7"):
            await client.get("http://10.9.8.7/")


async def test_a_private_ca_from_ssl_cert_file_is_trusted(
    tls_server: tuple[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Operators trust an internal CA the standard way; the egress client keeps honouring it."""
    port, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    async with egress_client(parse_allow_private("127.0.0.1"), timeout=httpx.Timeout(5.0)) as client:
        assert (await client.get(f"https://127.0.0.1:{port}/")).text == "ok"


@pytest.mark.parametrize(
    "entry", ["ftp://api.example.com", "https://api.example.com/v1", "u:p@api.example.com"]
)
def test_a_bad_http_allowlist_entry_stops_at_start(entry: str) -> None:
    with pytest.raises(
        SettingsError, match=r"TOOLS_HTTP_ALLOWLIST: entry .* expected \[http\(s\)://\]HOST\[:PORT\]"
    ):
        try_load_settings(tools_http_allowlist=f"api.example.com,{entry}", _env_file=None)
