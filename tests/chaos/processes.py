"""The processes a crash test kills: its own Temporal dev server (restartable on the same SQLite file
and port) and `python -m worker` processes (SIGKILLed and replaced)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from common.devserver import dev_server_args, port_open, temporal_binary

READY_LINE = "worker running"
# Variables of the developer's shell that would change what the worker does.
_FOREIGN = ("LLM_", "ANTHROPIC_", "OPENAI_", "PAYLOAD_KEYS", "OTEL_", "SMTP_", "DEDUPE_", "TEMPORAL_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(_FOREIGN)}
    return {**env, **extra}


class DevServer:
    """`temporal server start-dev` on a fixed port and SQLite file, so a restart finds every run."""

    def __init__(self, state_dir: Path) -> None:
        self.port = free_port()
        self.db_file = state_dir / "temporal.sqlite3"
        self._log = state_dir / "temporal-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [
            temporal_binary(),
            "server",
            "start-dev",
            *dev_server_args(port=self.port, ui_port=None, db_file=self.db_file),
        ]
        with open(self._log, "ab") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    async def start(self, timeout_s: float = 60.0) -> None:
        self._process = self._spawn()
        deadline = time.monotonic() + timeout_s
        while not port_open("127.0.0.1", self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"dev server exited: {self._log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"dev server not listening on {self.address}")
            await asyncio.sleep(0.05)

    async def crash(self) -> None:
        """SIGKILL: no graceful shutdown, as when a host dies."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self._process.wait)

    async def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                await asyncio.to_thread(self._process.wait, 10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                await asyncio.to_thread(self._process.wait)


@dataclass
class WorkerProcess:
    """One `python -m worker`; `ready` is set (with the wall-clock time) when it polls its queue."""

    env: dict[str, str]
    cwd: Path
    args: list[str] = field(default_factory=list)  # after `python -m worker` (`--role ...`)
    process: subprocess.Popen[str] = field(init=False)
    spawned_at: float = field(init=False)  # time.time()
    ready_at: float | None = field(init=False, default=None)
    killed_at: float | None = field(init=False, default=None)
    lines: list[str] = field(init=False, default_factory=list)
    _ready: threading.Event = field(init=False, default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.spawned_at = time.time()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker", *self.args],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip())
            if READY_LINE in line and not self._ready.is_set():
                self.ready_at = time.time()
                self._ready.set()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set() and self.process.poll() is None

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        if not await asyncio.to_thread(self._ready.wait, timeout_s):
            raise TimeoutError("worker did not start:\n" + "\n".join(self.lines[-30:]))

    def kill(self) -> None:
        """SIGKILL (callable from any thread): the worker gets no chance to finish anything."""
        if self.process.poll() is None:
            self.killed_at = time.time()
            os.kill(self.process.pid, signal.SIGKILL)

    async def wait_dead(self) -> None:
        await asyncio.to_thread(self.process.wait)

    async def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 15)
            except subprocess.TimeoutExpired:
                self.kill()
                await self.wait_dead()


class ReplaceableWorker:
    """A worker a test SIGKILLs (`kill`) and replaces with a new one on the same settings (`replace`).
    As an async context manager: ready on entry; on exit, `release` runs first (a scripted server's
    held responses, which nothing else would end), then every process is stopped."""

    def __init__(self, env: dict[str, str], state: Path, release: Callable[[], object] | None = None) -> None:
        self._env, self._state, self._release = env, state, release
        self.current = WorkerProcess(env, state)
        self.killed: WorkerProcess | None = None

    async def __aenter__(self) -> ReplaceableWorker:
        try:
            await self.current.wait_ready()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def kill(self) -> None:
        self.killed = self.current
        self.killed.kill()
        await self.killed.wait_dead()

    def replace(self) -> WorkerProcess:
        self.current = WorkerProcess(self._env, self._state)
        return self.current

    async def __aexit__(self, *_exc: object) -> None:
        if self._release is not None:
            self._release()
        for process in (self.killed, self.current):
            if process is not None:
                await process.stop()
