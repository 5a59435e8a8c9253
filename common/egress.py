"""Where outbound HTTP may go: the one egress policy of every webhook, `send_webhook` and `http_get`.

The check runs at connect time on the addresses the host name resolved to (a network backend under
httpx), not on the URL: a name that resolves to 169.254.169.254 today or rebinds between a check and
the connection is refused all the same, because the connection goes to the address that was checked.
TLS is still verified against the host name (httpx passes it to the TLS handshake, not the address).

By default only globally routable addresses are reachable: loopback, link-local (cloud metadata),
private, shared, unspecified, multicast and reserved addresses (IPv4 and IPv6, IPv4-mapped IPv6
unwrapped) are refused unless `EGRESS_ALLOW_PRIVATE` names the host or a network holding the address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from common.redact import RedactUrlsInLogs

__all__ = [
    "EgressPolicy",
    "EgressRefused",
    "GuardedBackend",
    "Resolver",
    "egress_client",
    "parse_allow_private",
    "parse_origin",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
# Only encodings the bounded reader (common/http_body.py) decodes step by step.
ACCEPT_ENCODING = "gzip, deflate"
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
DEFAULT_PORT = {"http": 80, "https": 443}


class EgressRefused(Exception):
    """The destination is not allowed; a retry cannot change that (not an httpx.TransportError)."""


@dataclass(frozen=True)
class EgressPolicy:
    """Which non-public destinations are allowed anyway (EGRESS_ALLOW_PRIVATE)."""

    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()

    def check(self, host: str, address: str) -> None:
        """Raises `EgressRefused` unless `host`, resolved to `address`, may be connected to."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        kind = address_kind(ip)
        if kind is None:
            return
        if host.lower().rstrip(".") in self.allowed_hosts:
            return
        if any(ip.version == network.version and ip in network for network in self.allowed_networks):
            return
        shown = host if host == address else f"{host} ({ip})"
        raise EgressRefused(
            f"destination {shown} is a {kind} address; outbound HTTP goes to public addresses only "
            "unless EGRESS_ALLOW_PRIVATE names it"
        )


def address_kind(ip: IPAddress) -> str | None:
    """Why `ip` is not a public destination ("loopback", "link-local", ...), None when it is one."""
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-global", not ip.is_global),  # e.g. 100.64.0.0/10 (carrier-grade NAT)
    ):
        if flag:
            return kind
    return None


def parse_allow_private(text: str) -> EgressPolicy:
    """`127.0.0.1,10.0.0.0/8,::1,hooks.internal` -> a policy; `ValueError` naming a bad entry."""
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if "/" in entry or ":" in entry or not all(label for label in entry.rstrip(".").split(".")):
            raise ValueError(f"{entry!r} is neither a host name nor an IP address or network")
        hosts.add(entry.lower().rstrip("."))
    return EgressPolicy(frozenset(hosts), tuple(networks))


def parse_origin(entry: str) -> tuple[str, str, int]:
    """An allowlist entry (TOOLS_HTTP_ALLOWLIST) as (scheme, host, port): `https://h`, `http://h:8080`,
    `h:8443` (https), `h` (https on 443). `ValueError` for anything else (a path, credentials, ftp)."""
    text = entry.strip().lower()
    expected = f"entry {entry!r}: expected [http(s)://]HOST[:PORT]"
    try:
        parsed = httpx.URL(text if "://" in text else f"https://{text}")
    except (httpx.InvalidURL, TypeError):
        raise ValueError(expected) from None
    if parsed.scheme not in DEFAULT_PORT or not parsed.host or parsed.userinfo:
        raise ValueError(expected)
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise ValueError(expected)
    return parsed.scheme, parsed.host, parsed.port or DEFAULT_PORT[parsed.scheme]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the policy in `connect_tcp`: resolve, check every address,
    connect to a checked address (never to the name, which could resolve differently a second time)."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver = system_resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = [host] if _is_ip(host) else await self._resolve(host, port, timeout)
        for address in addresses:  # all of them first: one bad answer refuses the name
            self._policy.check(host, address)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        assert last_error is not None
        raise last_error

    async def _resolve(self, host: str, port: int, within_s: float | None) -> list[str]:
        try:
            async with asyncio.timeout(within_s):
                addresses = await self._resolver(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("unix sockets are not an outbound HTTP destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: GuardedBackend, verify: typing.Any, limits: httpx.Limits) -> None:
        # trust_env here reaches only the TLS context (SSL_CERT_FILE / SSL_CERT_DIR for a private CA);
        # proxies come from the client, which ignores the environment.
        super().__init__(verify=verify, trust_env=True, limits=limits)
        # httpx has no public hook for the network backend: swap it into the pool it just built.
        # tests/delivery/test_egress.py fails if a new httpx stops honouring it.
        pool = self._pool
        assert isinstance(pool, httpcore.AsyncConnectionPool)
        pool._network_backend = backend


def egress_client(
    policy: EgressPolicy,
    *,
    timeout: httpx.Timeout,
    resolver: Resolver = system_resolver,
    headers: dict[str, str] | None = None,
    verify: typing.Any = True,
    limits: httpx.Limits = _DEFAULT_LIMITS,
) -> httpx.AsyncClient:
    """The HTTP client of every outbound path: guarded connects, no environment proxies (a proxy would
    be the only address ever checked), only encodings the bounded reader can decode stepwise."""
    _redact_httpx_logs()
    return httpx.AsyncClient(
        transport=_GuardedTransport(GuardedBackend(policy, resolver), verify, limits),
        timeout=timeout,
        headers={"accept-encoding": ACCEPT_ENCODING, **(headers or {})},
        follow_redirects=False,
        trust_env=False,
    )


def _redact_httpx_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(existing, RedactUrlsInLogs) for existing in logger.filters):
        logger.addFilter(RedactUrlsInLogs())
