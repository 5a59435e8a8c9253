"""A real HTTP server on 127.0.0.1 (stdlib `http.server` in a thread) for the http_get tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

CHUNK = b"x" * 65536
ENDLESS_LIMIT = 64 * 1024 * 1024  # the /endless route would send this much if nobody stopped reading


@dataclass
class ServerState:
    release: threading.Event = field(default_factory=threading.Event)  # frees the /slow handler
    bytes_sent_endless: int = 0
    flaky_calls: int = 0
    flaky_failures: int = 0  # how many times /flaky answers 503 before it answers 200
    paths: list[str] = field(default_factory=list)


@dataclass
class LocalServer:
    base_url: str
    state: ServerState


@dataclass
class _Current:
    state: ServerState = field(default_factory=ServerState)


def _handler(current: _Current) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the tool gave up first (the timeout tests): nobody is reading any more

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            state = current.state
            state.paths.append(self.path)
            port = self.server.server_address[1]
            if self.path == "/hello":
                self._send(200, "héllo from the local server".encode())
            elif self.path == "/json":
                self._send(200, b'{"answer": 42}', "application/json")
            elif self.path == "/missing":
                self._send(404, b"no such page")
            elif self.path == "/image":
                self._send(200, b"\x89PNG\r\n\x1a\n", "image/png")
            elif self.path == "/to-hello":
                self._redirect("/hello")
            elif self.path == "/to-localhost":
                # Same server, other host name: only 127.0.0.1 is on the tests' allowlist.
                self._redirect(f"http://localhost:{port}/hello")
            elif self.path == "/loop":
                self._redirect("/loop")
            elif self.path == "/flaky":
                state.flaky_calls += 1
                if state.flaky_calls <= state.flaky_failures:
                    self._send(503, b"try later")
                else:
                    self._send(200, f"answered on call {state.flaky_calls}".encode())
            elif self.path == "/slow":
                state.release.wait(timeout=30)
                self._send(200, b"too late")
            elif self.path == "/endless":
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(ENDLESS_LIMIT))
                self.end_headers()
                try:
                    while state.bytes_sent_endless < ENDLESS_LIMIT:
                        self.wfile.write(CHUNK)
                        state.bytes_sent_endless += len(CHUNK)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading, as it should
            else:
                self._send(404, b"unknown route")

    return Handler


@pytest.fixture(scope="session")
def _server() -> Iterator[tuple[str, _Current]]:
    current = _Current()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(current))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", current
    finally:
        current.state.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def local_server(_server: tuple[str, _Current]) -> Iterator[LocalServer]:
    """The session's server with fresh per-test state (request log, counters)."""
    base_url, current = _server
    current.state = ServerState()
    try:
        yield LocalServer(base_url=base_url, state=current.state)
    finally:
        current.state.release.set()


from tests.fakes.receivers import hostile, hostile_server  # noqa: E402, F401 - hostile HTTP server
