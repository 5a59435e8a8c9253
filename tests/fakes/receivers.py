"""Real receivers for side effects: an HTTP webhook endpoint and an SMTP server, both on 127.0.0.1 with
an ephemeral port, each in its own thread, each recording what arrived so a test can count deliveries
exactly.

`HttpReceiver` behaves like a well-made webhook endpoint: it deduplicates by `Idempotency-Key` (the
first request with a key is accepted, a repeat gets 409 "already processed"), and a test can script
the next answers (`500` first, then the normal behaviour) or make it drop the connection after it
accepted a request (the "response lost" case). `SmtpServer` is aiosmtpd; it cannot deduplicate
(SMTP never does), it records every message and can answer scripted SMTP replies.

Fixtures `http_receiver` and `smtp_server` are registered for the whole suite in the repo's conftest.py.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import gzip
import json
import socket
import ssl
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

IDEMPOTENCY_HEADER = "idempotency-key"
DROP = "drop"  # scripted outcome: accept the request, then close the connection without an answer


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    answered: int | str  # the status sent back, or DROP
    received_at: float = field(default_factory=time.monotonic)  # for measuring recovery times

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get(IDEMPOTENCY_HEADER)

    def json(self) -> Any:
        return json.loads(self.body)


class _Waitable:
    """A lock plus a condition, so tests wait for arrivals instead of sleeping."""

    def __init__(self) -> None:
        self._condition = threading.Condition()

    def _notify(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def wait_until(self, predicate: Callable[[], bool], within_s: float = 10.0) -> bool:
        with self._condition:
            return self._condition.wait_for(predicate, within_s)

    async def wait_until_async(self, predicate: Callable[[], bool], within_s: float = 10.0) -> bool:
        return await asyncio.to_thread(self.wait_until, predicate, within_s)


class _ServedInThread:
    """An HTTP server on a daemon thread of the test process, stopped by `stop`."""

    _server: ThreadingHTTPServer | None
    _thread: threading.Thread | None

    def _serve(self, server: ThreadingHTTPServer, name: str) -> None:
        server.daemon_threads = True
        self._server = server
        # A short poll interval makes `stop` quick (shutdown waits for the serve loop to look).
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class HttpReceiver(_Waitable, _ServedInThread):
    """A webhook endpoint that accepts POSTs to any path and deduplicates by Idempotency-Key."""

    def __init__(self, duplicate_status: int = 409) -> None:
        super().__init__()
        self.duplicate_status = duplicate_status
        self._lock = threading.Lock()
        self._script: deque[tuple[int | str, str | None]] = deque()
        self._seen_keys: set[str] = set()
        self.response_delay_s = 0.0  # a slow receiver: answer a new delivery this long after it arrived
        self.requests: list[ReceivedRequest] = []  # every request, in arrival order
        self.accepted: list[ReceivedRequest] = []  # the requests processed as new deliveries
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "receiver not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *outcomes: int | str, key: str | None = None) -> None:
        """The next answers, in order: an HTTP status (a non-2xx one is not processed) or `DROP`
        (processed, then the connection is closed without an answer). With `key`, only requests
        carrying that Idempotency-Key consume them."""
        with self._lock:
            self._script.extend((outcome, key) for outcome in outcomes)

    def accepted_count(self, key: str) -> int:
        with self._lock:
            return sum(1 for request in self.accepted if request.idempotency_key == key)

    def accepted_keys(self) -> Counter[str | None]:
        with self._lock:
            return Counter(request.idempotency_key for request in self.accepted)

    def attempts(self, key: str) -> int:
        with self._lock:
            return sum(1 for request in self.requests if request.idempotency_key == key)

    def _scripted(self, key: str | None) -> int | str | None:
        for index, (outcome, only_key) in enumerate(self._script):
            if only_key is None or only_key == key:
                del self._script[index]
                return outcome
        return None

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int | str:
        key = headers.get(IDEMPOTENCY_HEADER)
        with self._lock:
            outcome = self._scripted(key)
            processed = False
            if isinstance(outcome, int) and not 200 <= outcome < 300:
                answered: int | str = outcome  # a scripted failure: nothing is processed
            elif key is not None and key in self._seen_keys:
                answered = self.duplicate_status  # a repeat of a processed key: not processed again
            else:
                answered, processed = (outcome if outcome is not None else 200), True
                if key is not None:
                    self._seen_keys.add(key)
            request = ReceivedRequest(method, path, headers, body, answered)
            self.requests.append(request)
            if processed:
                self.accepted.append(request)
        self._notify()
        return answered

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                answered = receiver._handle("POST", self.path, headers, body)
                if receiver.response_delay_s and answered in (200, DROP):
                    # A slow receiver (processing takes time); repeats are answered at once.
                    time.sleep(receiver.response_delay_s)
                if answered == DROP:
                    self.close_connection = True
                    return
                assert isinstance(answered, int)
                text = b"already processed" if answered == receiver.duplicate_status else b"ok"
                if not 200 <= answered < 300 and answered != receiver.duplicate_status:
                    text = b"scripted failure"
                try:
                    self.send_response(answered)
                    self.send_header("content-type", "text/plain")
                    self.send_header("content-length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timed-out or cancelled attempt)

        self._serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler), "http-receiver")
        return self


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        return str(text).replace("\r\n", "\n")  # SMTP carries CRLF line ends


@dataclass
class _SmtpScript:
    data_replies: deque[str] = field(default_factory=deque)  # e.g. "451 4.3.0 try later"
    refused_recipients: dict[str, str] = field(default_factory=dict)  # address -> reply


class SmtpServer(_Waitable):
    """aiosmtpd on its own event loop in a thread. Optional AUTH (username, password) and STARTTLS
    (a server-side SSLContext; the server then refuses mail before STARTTLS)."""

    def __init__(
        self,
        credentials: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self._credentials = credentials
        self._tls_context = tls_context
        self._lock = threading.Lock()
        self._script = _SmtpScript()
        self.messages: list[ReceivedMail] = []
        self.logins: list[str] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    def script_data_replies(self, *replies: str) -> None:
        """SMTP replies for the next DATA commands instead of accepting the message."""
        with self._lock:
            self._script.data_replies.extend(replies)

    def refuse_recipient(self, address: str, reply: str = "550 5.1.1 no such user") -> None:
        with self._lock:
            self._script.refused_recipients[address.lower()] = reply

    def with_message_id(self, message_id: str) -> list[ReceivedMail]:
        with self._lock:
            return [mail for mail in self.messages if mail.message_id == message_id]

    # aiosmtpd handler hooks (run on the server's loop)
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self._lock:
            refused = self._script.refused_recipients.get(address.lower())
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self._script.data_replies:
                return self._script.data_replies.popleft()
            content = envelope.original_content or b""
            self.messages.append(
                ReceivedMail(str(envelope.mail_from), tuple(envelope.rcpt_tos), bytes(content))
            )
        self._notify()
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self._credentials is None:
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = (login, password) == self._credentials
        if ok:
            with self._lock:
                self.logins.append(login)
        return AuthResult(success=ok, handled=False)

    def _protocol(self) -> SMTP:
        assert self._loop is not None
        return SMTP(
            self,
            hostname="receiver.test",
            loop=self._loop,
            authenticator=self._authenticate if self._credentials else None,
            auth_required=self._credentials is not None,
            auth_require_tls=self._tls_context is not None,
            tls_context=self._tls_context,
            require_starttls=self._tls_context is not None,
        )

    def start(self) -> SmtpServer:
        # The loop runs in its own thread from the start, so `start` works from sync and async tests.
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="smtp-server", daemon=True)
        self._thread.start()
        listening = asyncio.run_coroutine_threadsafe(self._listen(), loop)
        self._server = listening.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _listen(self) -> asyncio.Server:
        return await asyncio.get_running_loop().create_server(self._protocol, self.host, 0)

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shut() -> None:
            server.close()

        asyncio.run_coroutine_threadsafe(shut(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        loop.close()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A fresh webhook endpoint per test (starting one costs about a millisecond)."""
    receiver = HttpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A fresh SMTP server per test, no AUTH, no TLS."""
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


# --- hostile servers -------------------------------------------------------------------------------

BOMB_INFLATED_BYTES = 256 * 1024 * 1024


def double_gzip_bomb(inflated_bytes: int = BOMB_INFLATED_BYTES) -> bytes:
    """`inflated_bytes` zeros, gzipped twice: a body of a few kilobytes that inflates to all of them
    (the second gzip squeezes the first one's long runs of identical blocks)."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [inner.compress(block) for _ in range(inflated_bytes // len(block))]
    parts.append(inner.flush())
    return gzip.compress(b"".join(parts), compresslevel=9)


@dataclass
class HostileState:
    paths: list[str] = field(default_factory=list)
    drip_bytes_sent: int = 0
    drip_stopped: threading.Event = field(default_factory=threading.Event)


class HostileHttpServer(_ServedInThread):
    """Answers any GET or POST with a hostile body, chosen by path:

    - `/bomb`: a double-gzip body (`Content-Encoding: gzip, gzip`) of a few KB that inflates to
      BOMB_INFLATED_BYTES; status 200 for GET, 500 for POST (a webhook reads error bodies);
    - `/drip`: headers at once, then the body one byte every 20 ms for up to 30 s; 200 for GET and
      500 for POST; `/drip-ok` drips a 200 for POST too;
    - `/redirect`: 302 to `/bomb`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.state = HostileState()
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bomb = double_gzip_bomb()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> HostileHttpServer:
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(post=False)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self._answer(post=True)

            def _answer(self, post: bool) -> None:
                hostile.state.paths.append(self.path.split("?", 1)[0])
                route = self.path.split("?", 1)[0]
                try:
                    if route == "/bomb":
                        self.send_response(500 if post else 200)
                        self.send_header("content-type", "text/plain")
                        self.send_header("content-encoding", "gzip, gzip")
                        self.send_header("content-length", str(len(hostile._bomb)))
                        self.end_headers()
                        self.wfile.write(hostile._bomb)
                    elif route in ("/drip", "/drip-ok"):
                        self.send_response(500 if post and route == "/drip" else 200)
                        self.send_header("content-type", "text/plain")
                        self.send_header("content-length", "1000000")
                        self.end_headers()
                        self._drip()
                    elif route == "/redirect":
                        self.send_response(302)
                        self.send_header("location", "/bomb")
                        self.send_header("content-length", "0")
                        self.end_headers()
                    else:
                        self.send_response(404)
                        self.send_header("content-length", "0")
                        self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading, as it should

            def _drip(self) -> None:
                deadline = time.monotonic() + 30
                try:
                    while time.monotonic() < deadline:
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        hostile.state.drip_bytes_sent += 1
                        time.sleep(0.02)
                finally:
                    hostile.state.drip_stopped.set()

        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family

        self._serve(Server((self._host, 0), Handler), "hostile-http")
        return self


@pytest.fixture(scope="session")
def hostile_server() -> Iterator[HostileHttpServer]:
    """One hostile server per session (the bomb takes a moment to build); tests read `state` fresh."""
    server = HostileHttpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hostile(hostile_server: HostileHttpServer) -> HostileHttpServer:
    hostile_server.state = HostileState()
    return hostile_server
