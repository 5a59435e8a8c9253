"""`python -m worker`: connect, register, run until SIGTERM/SIGINT, then shut down gracefully."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from common import metrics, search_attributes
from common.client import TemporalUnreachable, connect
from common.process_exit import exit_now
from common.settings import load_settings
from common.telemetry import setup_telemetry
from worker.app import build_worker, registered_names

log = logging.getLogger("worker")


async def main() -> int:
    settings = load_settings()
    # Before connecting: the Temporal runtime takes its metrics endpoint from here.
    telemetry = setup_telemetry(settings, "ai-workflows-worker", sdk_metrics=True)
    try:
        client = await connect(settings)
    except TemporalUnreachable as error:
        log.error("%s", error)
        return 1
    missing = await search_attributes.missing_on_server(client)
    if missing is None:
        log.warning("could not check the namespace's search attributes; assuming they are registered")
    elif missing:
        log.error(
            "namespace %s lacks the search attributes %s; register them with: %s",
            settings.temporal_namespace,
            ", ".join(missing),
            search_attributes.register_commands(missing),
        )
        return 1
    worker = build_worker(client, settings)
    # Everything imported and built so far lives as long as the process: keep it out of the cyclic
    # garbage collector's full passes, which otherwise scan it every time and stall workflow tasks
    # for 100+ ms (docs/benchmarks.md, workflow-task time).
    gc.freeze()
    log.info(
        "connected to %s namespace=%s task_queue=%s provider=%s",
        settings.temporal_address,
        settings.temporal_namespace,
        worker.task_queue,
        settings.provider,
    )
    workflows, activities = registered_names(worker)
    log.info("registered workflows: %s", ", ".join(workflows))
    log.info("registered activities: %s", ", ".join(activities))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info(
            "worker running; Ctrl-C or SIGTERM stops it (in-flight activities get %ss)",
            settings.worker_graceful_shutdown_s,
        )
        watcher = None
        if telemetry.exports_metrics:
            watcher = asyncio.create_task(
                metrics.watch_approvals_waiting(client, metrics.current(), stop=stop)
            )
        await stop.wait()
        log.info("shutting down")
    if watcher is not None:
        await watcher
    telemetry.shutdown()  # flush the spans of the last activities before the process ends
    log.info("stopped")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exit_now(asyncio.run(main()))
