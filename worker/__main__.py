"""`python -m worker [--role all|workflows|activities]`: connect, register, run until SIGTERM/SIGINT,
then shut down gracefully.

`--role workflows` and `--role activities` split one worker into two processes on the same task queue:
workflow tasks (which hold the GIL) then never delay the activities' event loop, and each process has
a core of its own (docs/operations.md, "Crash recovery").
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Literal

from temporalio.exceptions import ApplicationError

from activities.approval_policy import policy_from_settings
from activities.mcp.startup import McpStartupError, check_mcp_servers
from common import metrics, search_attributes
from common.client import TemporalUnreachable, connect
from common.payload_store import PayloadStoreError
from common.payload_store_config import check_payload_store
from common.process_exit import exit_now
from common.settings import load_settings
from common.telemetry import setup_telemetry
from worker.app import build_worker, registered_names
from worker.gc_policy import settle_heap
from worker.inflight import WorkerLease
from worker.plugin import PluginLoadError, load_extensions
from worker.reaper import DEAD_WORKER_CHECK_S, reap_quietly, watch_for_dead_workers

log = logging.getLogger("worker")

Role = Literal["all", "workflows", "activities"]
ROLES: tuple[Role, ...] = ("all", "workflows", "activities")


async def main(role: Role = "all") -> int:
    settings = load_settings()
    # Before connecting: the Temporal runtime takes its metrics endpoint from here.
    telemetry = setup_telemetry(settings, "ai-workflows-worker", sdk_metrics=True)
    try:
        # A missing bucket or bad credentials: one line now, not failed workflow tasks later.
        await check_payload_store(settings)
        if role != "workflows":  # a bad MCP_SERVERS_FILE or an unreachable server: one line now
            for found in await check_mcp_servers(settings):
                log.info("MCP server %s", found)
        # A plugin that fails to import: one line now, before anything polls.
        extensions = load_extensions(settings)
        # A bad keys or rules file: one line now, not a failed approval later.
        policy = policy_from_settings(settings)
        client = await connect(settings)
    except (TemporalUnreachable, PayloadStoreError, McpStartupError, PluginLoadError) as error:
        log.error("%s", error)
        return 1
    except ApplicationError as error:  # from policy_from_settings
        log.error("%s", error.message)
        return 1
    if policy.keys is None:
        log.warning(
            "approval decisions are not authenticated: any client of the namespace may approve as any "
            "listed approver (set APPROVER_KEYS_FILE for signed approvals; docs/production.md)"
        )
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
    # Every role watches for dead workers on this machine (and first reaps the attempts a predecessor
    # left, before this worker polls); a role that runs activities records its own (worker/inflight.py).
    lease = WorkerLease.acquire(settings.worker_lease_dir) if role != "workflows" else None
    own = lease.name if lease else None
    await reap_quietly(client, settings.worker_lease_dir, own=own)
    reaper = asyncio.create_task(
        watch_for_dead_workers(client, settings.worker_lease_dir, DEAD_WORKER_CHECK_S, own=own)
    )
    worker = build_worker(
        client,
        settings,
        activities=[] if role == "workflows" else None,
        workflows=[] if role == "activities" else None,
        lease=lease,
        extensions=extensions,
    )
    # Everything imported and built so far lives as long as the process: keep it out of the cyclic
    # garbage collector's full passes, which otherwise scan it every time and stall workflow tasks
    # for 100+ ms, and collect young objects less often (worker/gc_policy.py).
    settle_heap()
    log.info(
        "connected to %s namespace=%s task_queue=%s provider=%s role=%s",
        settings.temporal_address,
        settings.temporal_namespace,
        worker.task_queue,
        settings.provider,
        role,
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
    reaper.cancel()
    if lease is not None:
        lease.release()  # after the worker's shutdown: nothing of ours is in flight any more
    telemetry.shutdown()  # flush the spans of the last activities before the process ends
    log.info("stopped")
    return 0


def parse_role(argv: list[str] | None = None) -> Role:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=ROLES, default="all", help="what this process runs (default all)")
    role: Role = parser.parse_args(argv).role
    return role


if __name__ == "__main__":
    chosen = parse_role()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exit_now(asyncio.run(main(chosen)))
