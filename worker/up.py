"""`make up`: the embedded dev server and one worker in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys

from common.devserver import start_dev_server, wait_for_port


def main() -> int:
    server = start_dev_server(quiet=True)
    try:
        wait_for_port("localhost", 7233)
        print("Temporal dev server on localhost:7233 (log in .state/temporal-server.log)")
        print("Web UI: http://localhost:8233 ; Ctrl-C stops both")
        worker = subprocess.Popen([sys.executable, "-m", "worker"])
        try:
            return worker.wait()
        except KeyboardInterrupt:
            worker.send_signal(signal.SIGINT)
            return worker.wait()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
