"""`python -m starter demo` (`make demo`): embedded dev server + worker + one research run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from urllib.parse import quote

from common.client import connect
from common.devserver import port_open, start_dev_server, wait_for_port
from common.settings import Settings
from starter import api
from workflows.models import ResearchInput


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def run_demo(settings: Settings, topic: str = "durable execution for AI agents") -> int:
    host, port = settings.temporal_address.rsplit(":", 1)
    with ExitStack() as stack:
        if port_open(host, int(port)):
            print(f"using the Temporal server already running at {settings.temporal_address}")
        else:
            print("starting the embedded Temporal dev server (state in .state/) ...")
            server = start_dev_server(port=int(port))
            stack.callback(_stop, server)
            wait_for_port(host, int(port))
        print("starting the worker ...")
        # Popen returns at once after fork/exec; nothing here waits on the child.
        worker = subprocess.Popen([sys.executable, "-m", "worker"], env=os.environ.copy())  # noqa: ASYNC220
        stack.callback(_stop, worker)
        client = await connect(settings)
        handle = await api.start_research(
            client, ResearchInput(topic=topic), task_queue=settings.temporal_task_queue
        )
        print(f"started {handle.id} on the {settings.provider} model")
        result = await handle.result()
        print("\n" + result.report + "\n")
        print(f"steps: {len(result.steps)}  cost: ${result.cost_usd:.6f} ({settings.provider} model)")
        print(
            f"Web UI: {settings.temporal_web_ui}/namespaces/{quote(settings.temporal_namespace)}/workflows/{quote(handle.id)}"
        )
    return 0


if __name__ == "__main__":
    from common.settings import load_settings

    sys.exit(asyncio.run(run_demo(load_settings())))
