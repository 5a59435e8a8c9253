"""`import_off_loop`: a module that only some workers use (the `mcp` SDK, numpy), imported by an async
activity on first use without stalling the event loop: its other activities and heartbeats keep
running through an import of 0.1-1 s. A worker that has the feature configured imports it at start."""

from __future__ import annotations

import asyncio
from importlib import import_module

__all__ = ["import_off_loop"]

# Names this process has imported through `import_off_loop`, to the end. Not `sys.modules`: a module
# another thread is still importing is in it already, and an `import` of it on the loop would wait
# there for that thread.
_imported: set[str] = set()


async def import_off_loop(name: str) -> None:
    """Imports `name` in a thread the first time (waiting there for any import of it under way); then
    `import name` is a dictionary lookup."""
    if name not in _imported:
        await asyncio.to_thread(import_module, name)
        _imported.add(name)
