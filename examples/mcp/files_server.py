"""A small filesystem MCP server (the official SDK's `MCPServer`, FastMCP's name in mcp 2), for
`examples/mcp/servers.json`: its tools work on the files below FILES_ROOT (default: the `share`
folder next to this file) and nowhere else.

    python examples/mcp/files_server.py          # stdio, as an MCP client starts it

- `list_files`, `read_file`: read-only (no approval).
- `write_file`: not read-only, not destructive, idempotent (same content, same file): approval by
  default (`approval: annotations`), retried freely.
- `delete_file`: destructive, not idempotent: approval, and sent at most once.
"""

from __future__ import annotations

import os
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

__all__ = ["app"]

ROOT = Path(os.environ.get("FILES_ROOT") or Path(__file__).resolve().parent / "share").resolve()
MAX_READ_CHARS = 50_000

app = MCPServer("files", instructions=f"Files below {ROOT}; paths are relative to it.")


def _inside(path: str) -> Path:
    """`path` below the root, or a `ToolError` the model reads (no escape by `..` or symlinks)."""
    target = (ROOT / path).resolve()
    if target != ROOT and ROOT not in target.parents:
        raise ToolError(f"{path!r} is outside the shared folder")
    return target


@app.tool(annotations=ToolAnnotations(read_only_hint=True))
def list_files(path: str = ".") -> str:
    """List the files and folders in a folder of the shared folder (relative path; '.' for the top)."""
    folder = _inside(path)
    if not folder.is_dir():
        raise ToolError(f"{path!r} is not a folder")
    entries = sorted(folder.iterdir())
    lines = [f"{entry.relative_to(ROOT)}{'/' if entry.is_dir() else ''}" for entry in entries]
    return "\n".join(lines) or "(empty)"


@app.tool(annotations=ToolAnnotations(read_only_hint=True))
def read_file(path: str) -> str:
    """Read a text file of the shared folder (relative path)."""
    target = _inside(path)
    if not target.is_file():
        raise ToolError(f"no file {path!r}")
    return target.read_text(encoding="utf-8", errors="replace")[:MAX_READ_CHARS]


@app.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True))
def write_file(path: str, content: str) -> str:
    """Write a text file of the shared folder (relative path), replacing what it held."""
    target = _inside(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
    return f"wrote {len(content)} characters to {path}"


@app.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
def delete_file(path: str) -> str:
    """Delete a file of the shared folder (relative path) for good."""
    target = _inside(path)
    if not target.is_file():
        raise ToolError(f"no file {path!r}")
    target.unlink()
    return f"deleted {path}"


if __name__ == "__main__":
    app.run()
