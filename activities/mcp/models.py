"""Re-exports the MCP activities' requests and tool lists: the definitions live in `common.contracts.mcp` (the contracts both workflows and activities import)."""

from common.contracts.mcp import (
    McpCallRequest,
    McpListRequest,
    McpToolInfo,
    McpToolList,
)

__all__ = [
    "McpCallRequest",
    "McpListRequest",
    "McpToolInfo",
    "McpToolList",
]
