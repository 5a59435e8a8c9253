"""The inbox in a process of its own, as in production (uvicorn, its own event loop), in front of the
in-memory `Runs`: `python -m tests.inbox.inbox_process PORT` reads the INBOX_* settings from the
environment. A test measuring the server's latency then measures only the server, not its own
client code sharing the loop."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping

import httpx

from tests.security.codec_process import free_port


@contextlib.contextmanager
def inbox_process(env: Mapping[str, str]) -> Iterator[str]:
    """Serves the inbox with `env` added to this environment until the block ends; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.inbox.inbox_process", str(port)],
            env={**os.environ, "LLM_PROVIDER": "offline", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, "the inbox exited at start"
                try:
                    if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, f"{url} did not answer in 30 s"
                    time.sleep(0.1)  # the port is not open yet; there is no event to wait on
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    import uvicorn

    from common.settings import try_load_settings
    from inbox.app import build_app
    from tests.inbox.recording import RecordingRuns

    app = build_app(try_load_settings(_env_file=None), runs=RecordingRuns())
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")


if __name__ == "__main__":
    main()
