"""`python -m tests.mcp.reply_probe SERVERS_FILE SERVER MEGABYTES`: a process of its own that runs the
real `mcp.call_tool` activity against SERVER's `huge` tool and prints, as JSON, the observation (cut
to 1000 characters), the process's resident memory before the call and its peak during the call, in
KiB. The peak is the kernel's high-water mark (`VmHWM`), reset right before the call; not
`getrusage`'s `ru_maxrss`, which on Linux keeps the peak of the parent that forked this process."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.mcp.activities import call_mcp_tool
from activities.resources import WorkerResources, using
from common.contracts.mcp import McpCallRequest
from common.settings import try_load_settings

__all__ = ["main"]


def status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    assert match is not None, field
    return int(match.group(1))


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := the current resident size


async def main(servers_file: Path, server: str, megabytes: int) -> None:
    settings = try_load_settings(
        mcp_servers_file=str(servers_file),
        llm_provider="offline",
        dedupe_ledger_path=servers_file.parent / "ledger.sqlite3",
        _env_file=None,
    )
    worker = WorkerResources(settings)
    environment = ActivityEnvironment()
    with using(worker):
        # A small call first: the session is open and every module loaded before the baseline.
        await environment.run(
            call_mcp_tool,
            McpCallRequest(
                name=f"{server}__lookup",
                server=server,
                tool="lookup",
                arguments={"city": "Oslo"},
                idempotency_key="probe-1",
            ),
        )
        reset_peak()
        before = status_kib("VmRSS")
        observation = await environment.run(
            call_mcp_tool,
            McpCallRequest(
                name=f"{server}__huge",
                server=server,
                tool="huge",
                arguments={"megabytes": megabytes},
                idempotency_key="probe-2",
            ),
        )
        after = status_kib("VmHWM")
    await worker.aclose()
    shown = {"content": observation.content[:1000], "is_error": observation.is_error}
    print(json.dumps({"rss_before_kib": before, "peak_during_kib": after, "observation": shown}))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
