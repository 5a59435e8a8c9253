"""`python -m worker.payload_sweep [--delete]`: retention for the payload store.

Every stored object lives under the id of the workflow whose history references it (`wf/<scope>/`,
common/payload_store.py). Temporal deletes a closed run's history once the namespace's retention
has passed; when no run of a workflow id is left (open or closed), nothing can reference its objects
any more and the whole scope goes. Open runs and closed runs within retention keep everything.

Safe while workers run: a scope is deleted only when Temporal holds no run of its workflow id, asked
right before its deletion, and when even its newest object is older than `--min-age-s` (so a run
started with a reused id in the meantime keeps what it just wrote). Dry run by default: it reports
what it would delete; `--delete` deletes. Objects of the flat layout (written before objects were kept
per workflow) are counted, never deleted: their references carry no workflow id.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from common.client import TemporalUnreachable, connect
from common.payload_store import (
    SCOPE_ID_OBJECT,
    SCOPES,
    PayloadStoreError,
    SweepableStore,
    scope_workflow_id,
)
from common.payload_store_config import object_store_from_settings
from common.process_exit import exit_now
from common.settings import Settings, load_settings

__all__ = ["SweepReport", "main", "sweep"]

log = logging.getLogger("worker.payload_sweep")


@dataclass
class SweepReport:
    kept_scopes: int = 0
    swept_scopes: list[str] = field(default_factory=list)  # workflow ids (deleted, or to delete)
    swept_objects: int = 0
    swept_bytes: int = 0
    young_scopes: int = 0  # unreferenced but written within --min-age-s: left for the next sweep
    flat_objects: int = 0
    flat_bytes: int = 0

    def lines(self, deleted: bool) -> list[str]:
        verb = "deleted" if deleted else "would delete (dry run; --delete to act)"
        return [
            f"workflows whose runs Temporal still holds: {self.kept_scopes} (kept)",
            f"{verb}: {len(self.swept_scopes)} workflows, {self.swept_objects} objects, "
            f"{self.swept_bytes} bytes",
            f"unreferenced but newer than --min-age-s: {self.young_scopes} workflows (next sweep)",
            f"flat-layout objects (older references, not swept): {self.flat_objects}, {self.flat_bytes} bytes",
        ]


async def workflow_held(client: Client, workflow_id: str) -> bool:
    """Whether Temporal holds any run of `workflow_id` (open, or closed within retention)."""
    try:
        await client.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise


async def sweep(
    client: Client, store: SweepableStore, *, delete: bool, min_age_s: float, now: float | None = None
) -> SweepReport:
    report = SweepReport()
    now = time.time() if now is None else now
    for scope in await store.scopes():
        folder = f"{SCOPES}/{scope}/"
        workflow_id = scope_workflow_id(scope)
        if workflow_id is None:  # a hashed scope names its workflow in an object
            workflow_id = (await store.get(folder + SCOPE_ID_OBJECT)).decode()
        if await workflow_held(client, workflow_id):
            report.kept_scopes += 1
            continue
        objects = await store.list_objects(folder)
        if objects and max(item.modified for item in objects) > now - min_age_s:
            report.young_scopes += 1
            continue
        report.swept_scopes.append(workflow_id)
        report.swept_objects += len(objects)
        report.swept_bytes += sum(item.size for item in objects)
        # Asked again right before deleting: a run started with this id since keeps its objects.
        if delete and not await workflow_held(client, workflow_id):
            await store.delete([item.name for item in objects])
    for item in await store.list_objects():
        if not item.name.startswith(f"{SCOPES}/"):
            report.flat_objects += 1
            report.flat_bytes += item.size
    return report


async def _run(settings: Settings, delete: bool, min_age_s: float) -> int:
    store = object_store_from_settings(settings)
    if store is None:
        print("PAYLOAD_STORE=off: there is no payload store to sweep")
        return 0
    try:
        client = await connect(settings)
        report = await sweep(client, store, delete=delete, min_age_s=min_age_s)
    except (TemporalUnreachable, PayloadStoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        await store.aclose()
    print(f"payload store {store.describe()}, namespace {settings.temporal_namespace}:")
    for line in report.lines(delete):
        print(f"  {line}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.payload_sweep", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--delete", action="store_true", help="delete (default: report only)")
    parser.add_argument(
        "--min-age-s",
        type=float,
        default=3600.0,
        help="leave a workflow's objects alone while its newest is younger than this (default 3600)",
    )
    args = parser.parse_args(argv)
    if args.min_age_s < 0:
        parser.error("--min-age-s must be >= 0")
    return asyncio.run(_run(load_settings(), args.delete, args.min_age_s))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exit_now(main())
