"""A local OpenAI-compatible `/v1/embeddings` server (stdlib HTTP server in a thread): each input's
vector is a hashed bag of its words, so similar texts have similar vectors and the same text always
the same one. A test can make one request hang (`stall_request`) until `release()`."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

DIMENSIONS = 64


def vector(text: str) -> list[float]:
    values = [0.0] * DIMENSIONS
    for word in re.findall(r"\w+", text.casefold()):
        values[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
    return values


class EmbeddingsServer:
    def __init__(self) -> None:
        self.inputs: list[list[str]] = []  # each request's inputs, in arrival order
        self.stalled = threading.Event()  # set once the stalled request has arrived
        self._stall_at: int | None = None
        self._release = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with server._lock:
                    server.inputs.append(list(body["input"]))
                    number = len(server.inputs)
                if number == server._stall_at:
                    server.stalled.set()
                    server._release.wait(120)
                    return  # the client that sent it is gone by now
                data = [
                    {"object": "embedding", "index": i, "embedding": vector(t)}
                    for i, t in enumerate(body["input"])
                ]
                self._send({"object": "list", "data": data, "model": body["model"]})

            def _send(self, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def stall_request(self, number: int) -> None:
        """The `number`-th request (1-based) hangs until `release()`."""
        self._stall_at = number

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
