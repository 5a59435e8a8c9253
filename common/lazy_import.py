"""`import_off_loop`: a module that only some workers use (the `mcp` SDK, numpy), imported by an async
activity on first use without stalling the event loop: its other activities and heartbeats keep
running through an import of 0.1-1 s. A worker that has the feature configured imports it at start."""

from __future__ import annotations

import asyncio
import sys
from importlib import import_module

__all__ = ["import_off_loop"]


async def import_off_loop(name: str) -> None:
    """Imports `name` in a thread unless it is loaded; then `import name` is a dictionary lookup."""
    if name not in sys.modules:
        await asyncio.to_thread(import_module, name)
