"""Runs the real `python -m worker.codec_server` for a test."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx


@dataclass
class CodecServer:
    url: str
    log: list[str] = field(default_factory=list)  # filled when the process has stopped


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the codec server exited at start"
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)  # the port is not open yet; there is no event to wait on
    raise TimeoutError(f"{url} did not answer in {timeout_s} s")


@contextlib.contextmanager
def codec_server(
    payload_keys: str, token: str, origins: str, *, port: int | None = None
) -> Iterator[CodecServer]:
    port = port or free_port()
    env = {
        **os.environ,
        "PAYLOAD_KEYS": payload_keys,
        "CODEC_SERVER_TOKEN": token,
        "CODEC_SERVER_BIND": f"127.0.0.1:{port}",
        "CODEC_SERVER_ALLOWED_ORIGINS": origins,
        "LLM_PROVIDER": "offline",
    }
    server = CodecServer(url=f"http://127.0.0.1:{port}")
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.codec_server"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_serving(process, f"{server.url}/health")
            yield server
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.seek(0)
            server.log = log.read().decode(errors="replace").splitlines()
