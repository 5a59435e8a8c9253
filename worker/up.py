"""`make up`: the embedded dev server and one worker in the foreground until Ctrl-C or SIGTERM; both
stop either way (the worker gracefully, then the server, which persists its state file)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from common.devserver import (
    ignore_stop_signals,
    port_arguments,
    start_in_foreground,
    stop_process,
    wait_for_port,
)
from common.settings import load_settings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.up", description=__doc__)
    port_arguments(parser)
    args = parser.parse_args(argv)
    shutdown_s = load_settings().worker_graceful_shutdown_s + 15  # the worker's own grace, and then some
    server = start_in_foreground(args, quiet=True)
    if server is None:
        return 1
    worker: subprocess.Popen[bytes] | None = None
    try:
        wait_for_port("localhost", args.port, process=server)
        print(f"Temporal dev server on localhost:{args.port} (log in .state/temporal-server.log)")
        print(f"Web UI: http://localhost:{args.ui_port} ; Ctrl-C or SIGTERM stops both", flush=True)
        env = {**os.environ, "TEMPORAL_ADDRESS": f"localhost:{args.port}"}
        worker = subprocess.Popen([sys.executable, "-m", "worker"], env=env)
        return worker.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        ignore_stop_signals()
        if worker is not None:
            # SIGINT, as Ctrl-C gives it (a terminal's Ctrl-C has reached it already; twice is harmless).
            stop_process(worker, signal.SIGINT, timeout_s=shutdown_s)
        stop_process(server)


if __name__ == "__main__":
    sys.exit(main())
