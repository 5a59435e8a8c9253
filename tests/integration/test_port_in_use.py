"""`make server` / `make up` on a port another process holds: one line naming the port and exit 1 at
once, never "dev server on localhost:PORT" followed by "address already in use"."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("module", ["common.devserver", "worker.up"])
@pytest.mark.parametrize("which", ["--port", "--ui-port"])
def test_a_held_port_is_refused_at_once_naming_it(
    module: str, which: str, held_port: int, tmp_path: Path
) -> None:
    ports = {"--port": free_port(), "--ui-port": free_port(), which: held_port}
    done = subprocess.run(
        [sys.executable, "-m", module, "--port", str(ports["--port"]), "--ui-port", str(ports["--ui-port"])],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        f"error: port {held_port} ({which}) is already in use by another process: stop it, or choose "
        f"another port with {which}"
    ]
    assert "dev server on" not in done.stdout
