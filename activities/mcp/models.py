"""Re-exports the MCP activities' requests and tool lists: the definitions live in `common.contracts.mcp` (the contracts both workflows and activities import)."""

from common.contracts.mcp import *  # noqa: F403 - the same names, defined once
from common.contracts.mcp import __all__ as __all__
