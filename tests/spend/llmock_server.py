"""`llmock serve` (the chaos LLM server from PyPI) as a test's subprocess: an OpenAI-compatible
endpoint with a per-minute request limit that answers 429 with the real `retry-after` beyond it,
and the journal of every request it answered (`/_llmock/requests`) for the tests to count."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.chaos.processes import free_port

__all__ = ["LlmockServer"]

LLMOCK = Path(sys.executable).parent / "llmock"


@dataclass
class LlmockServer:
    rpm: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        self.process = subprocess.Popen(
            [
                str(LLMOCK),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--rpm",
                str(self.rpm),
                "--tool-mode",
                "auto",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{self.url}/_llmock/requests", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llmock did not start on port {self.port}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def requests(self) -> list[dict[str, Any]]:
        """Every model request it answered, in order (status, `started_at` on its monotonic clock)."""
        journal = httpx.get(f"{self.url}/_llmock/requests", timeout=10.0).json()
        return [r for r in journal["requests"] if r["path"].endswith("/chat/completions")]

    def report(self) -> dict[str, Any]:
        """`llmock report --json`: its verdict on the clients, with the faults (429s) it sent."""
        done = subprocess.run(
            [str(LLMOCK), "report", "--url", self.url, "--json"], capture_output=True, text=True, timeout=30
        )
        report: dict[str, Any] = json.loads(done.stdout)
        return report
