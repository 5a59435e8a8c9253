"""Run `python -m starter ...` as a subprocess without blocking the event loop (an in-process worker
keeps running while the CLI waits)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str


def cli_env(address: str, task_queue: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ANTHROPIC_", "OPENAI_", "LLM_", "PAYLOAD_", "TEMPORAL_"))
    }
    return {**env, "TEMPORAL_ADDRESS": address, "TEMPORAL_TASK_QUEUE": task_queue, "LLM_PROVIDER": "offline"}


async def run_cli(
    *args: str, env: dict[str, str], stdin_fd: int | None = None, timeout_s: float = 120
) -> CliRun:
    """`stdin_fd`: a file descriptor for the child's stdin (e.g. a pty); default: /dev/null."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter",
        *args,
        env=env,
        stdin=stdin_fd if stdin_fd is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return CliRun(process.returncode, stdout.decode(), stderr.decode())
