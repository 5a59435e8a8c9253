"""A real local HTTP server (starlette on uvicorn, in a thread) whose answers a test can script.

Protocol-neutral plumbing shared by the Anthropic and OpenAI-compatible fakes: the listening socket,
the request log, and a queue of scripted outcomes (`Reply`, `Fail`, `Stall`, `StreamError`,
`Truncate`, `Malformed`) that
requests consume in order, optionally only requests of one step. With nothing scripted the server
answers like a model, by asking the offline provider (each protocol module converts both ways).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from activities.llm.call_context import STEP_HEADER, STEP_KIND_HEADER
from activities.llm.models import ContentBlock, TextBlock, Usage


@dataclass
class Reply:
    """A model answer. Unset fields come from the offline model's answer to the same request."""

    content: list[ContentBlock] | None = None
    stop_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    # One JSON body even when the request asked for a stream (servers that ignore `stream: true`).
    as_json: bool = False

    @classmethod
    def text(cls, text: str, **fields: Any) -> Reply:
        return cls(content=[TextBlock(text=text)], **fields)


@dataclass
class Fail:
    """An error response: `status`, the provider's error body, and headers (retry-after, ...)."""

    status: int
    error_type: str = "api_error"
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None


@dataclass
class Stall:
    """A stream that sends `after_events` events of `reply` and then nothing until `release()`."""

    after_events: int = 2
    reply: Reply = field(default_factory=Reply)


@dataclass
class StreamError:
    """A stream that sends `after_events` events and then an error event (status stays 200)."""

    error_type: str = "overloaded_error"
    message: str = "scripted stream error"
    after_events: int = 1


@dataclass
class Truncate:
    """A stream that sends `after_events` events and then ends, unfinished (the server died)."""

    after_events: int = 2
    reply: Reply = field(default_factory=Reply)


@dataclass
class Malformed:
    """A stream whose events `edit` rewrites before they are sent (a buggy server or proxy). Events
    are (event name or None, data) pairs; data is the parsed JSON, or the raw text when not JSON."""

    edit: Callable[[list[SseEvent]], list[SseEvent]]
    reply: Reply = field(default_factory=Reply)


SseEvent = tuple[str | None, Any]
Outcome = Reply | Fail | Stall | StreamError | Truncate | Malformed


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    received_at: float  # time.monotonic() on arrival

    @property
    def step(self) -> str:
        """`<workflow id>/<step>` from the `x-ai-workflows-step` header."""
        return self.headers.get(STEP_HEADER, "")

    @property
    def step_kind(self) -> str:
        return self.headers.get(STEP_KIND_HEADER, "chat")

    @property
    def streamed(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass
class _Scripted:
    outcome: Outcome
    step: str | None


class ScriptedServer:
    """Start with `with Server() as server:`; `server.base_url` is where clients point."""

    route_path = "/"
    default_model = "fake-model"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queue: list[_Scripted] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self._stalled = threading.Semaphore(0)
        app = Starlette(routes=[Route(self.route_path, self._handle, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        )
        # Listening before the server thread runs: early requests wait in the backlog, so nobody has
        # to wait for a "started" flag.
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        host, port = self._socket.getsockname()[:2]
        self.base_url = f"http://{host}:{port}"

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
        # Not joined: uvicorn notices within its 0.1 s tick and closes the socket itself; the test
        # need not wait for that (the thread is a daemon).
        self._server.should_exit = True
        self._server.force_exit = True

    # -- what tests use ----------------------------------------------------------------------------

    def script(self, *outcomes: Outcome, step: str | None = None) -> None:
        """Queue outcomes for the next requests (of `step` only, when given: the step name a request
        carries, `<workflow id>/<step>` or just `<step>`)."""
        with self._lock:
            self._queue.extend(_Scripted(outcome, step) for outcome in outcomes)

    def release(self) -> None:
        """Let every stalled stream go on."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._release_stalled)

    def _release_stalled(self) -> None:
        # A fresh event for later stalls: released streams keep the one they waited on.
        if self._release is not None:
            self._release.set()
        self._release = asyncio.Event()

    def wait_until_stalled(self, timeout: float = 30.0) -> bool:
        """Blocks until a stream has reached its `Stall` (for tests that act at that moment)."""
        return self._stalled.acquire(timeout=timeout)

    def requests_per_step(self) -> Counter[str]:
        return Counter(request.step for request in self.requests)

    def requests_for(self, step: str) -> list[RecordedRequest]:
        return [r for r in self.requests if _step_matches(r.step, step)]

    @property
    def pending(self) -> int:
        """Scripted outcomes no request has consumed yet."""
        with self._lock:
            return len(self._queue)

    # -- protocol hooks (subclasses) ---------------------------------------------------------------

    async def answer(self, request: RecordedRequest, reply: Reply) -> Reply:
        """`reply` with its unset fields filled in (the offline model's answer)."""
        raise NotImplementedError

    def reply_body(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        raise NotImplementedError

    def stream_events(self, request: RecordedRequest, reply: Reply) -> list[str]:
        """The reply as server-sent events, each a complete `event:`/`data:` text ending in a blank line."""
        raise NotImplementedError

    def error_body(self, fail: Fail) -> dict[str, Any]:
        raise NotImplementedError

    def stream_error_event(self, error: StreamError) -> str:
        raise NotImplementedError

    # -- plumbing ----------------------------------------------------------------------------------

    async def _handle(self, http_request: Request) -> Response:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._release = asyncio.Event()
        raw = await http_request.body()
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return JSONResponse(self.error_body(Fail(400, "invalid_request_error", "body is not JSON")), 400)
        request = RecordedRequest(
            path=http_request.url.path,
            headers={k.lower(): v for k, v in http_request.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        self.requests.append(request)
        outcome = self._next_outcome(request)
        if isinstance(outcome, Fail):
            return JSONResponse(self.error_body(outcome), outcome.status, headers=outcome.headers)
        reply = outcome.reply if isinstance(outcome, Stall | Truncate | Malformed) else outcome
        if not isinstance(reply, Reply):
            reply = Reply()
        reply = await self.answer(request, reply)
        if not request.streamed or (isinstance(outcome, Reply) and outcome.as_json):
            if isinstance(outcome, Stall | StreamError | Truncate | Malformed):
                raise ValueError(f"{type(outcome).__name__} needs a streaming request")
            return JSONResponse(self.reply_body(request, reply))
        events = self.stream_events(request, reply)
        if isinstance(outcome, Malformed):
            events = [sse(name, data) for name, data in outcome.edit([parse_sse(e) for e in events])]
        return StreamingResponse(self._stream(events, outcome), media_type="text/event-stream")

    async def _stream(self, events: list[str], outcome: Outcome) -> AsyncIterator[bytes]:
        for index, event in enumerate(events):
            if isinstance(outcome, Stall) and index == outcome.after_events:
                assert self._release is not None
                release = self._release
                self._stalled.release()
                await release.wait()
            if isinstance(outcome, StreamError) and index == outcome.after_events:
                yield self.stream_error_event(outcome).encode()
                return
            if isinstance(outcome, Truncate) and index == outcome.after_events:
                return
            yield event.encode()

    def _next_outcome(self, request: RecordedRequest) -> Outcome:
        with self._lock:
            for position, scripted in enumerate(self._queue):
                if scripted.step is None or _step_matches(request.step, scripted.step):
                    return self._queue.pop(position).outcome
        return Reply()


def _step_matches(header: str, step: str) -> bool:
    return header == step or header.endswith("/" + step)


def sse(event: str | None, data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n"


def parse_sse(text: str) -> SseEvent:
    """One `sse(...)` text back as (event name, data)."""
    name: str | None = None
    data = ""
    for line in text.splitlines():
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
    try:
        return name, json.loads(data)
    except json.JSONDecodeError:
        return name, data


def chunks(text: str, size: int) -> Iterable[str]:
    """Pieces of `text` the way a model streams them (always at least one, possibly empty)."""
    if not text:
        yield ""
        return
    for start in range(0, len(text), size):
        yield text[start : start + size]
