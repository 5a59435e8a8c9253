"""The worker's start-up check: the servers file parses and every enabled server answers, so a bad
file or an unreachable server stops the worker with one line instead of failing runs later. A worker
without servers does not import the `mcp` SDK (the activities' bodies load with the worker's
activities, `product_activities`)."""

from __future__ import annotations

from activities.mcp.config import McpConfigError
from common.settings import Settings

__all__ = ["McpStartupError", "check_mcp_servers"]


class McpStartupError(Exception):
    """One line: which file or server, and what is wrong."""


async def check_mcp_servers(settings: Settings) -> list[str]:
    """Connects to each enabled server once and lists its tools; returns `name: N tools` lines."""
    if not settings.mcp_servers_file:
        return []
    from activities.mcp.sessions import McpServerUnavailable, McpSessions

    try:
        sessions = McpSessions.from_settings(settings)
    except McpConfigError as error:
        raise McpStartupError(str(error)) from None
    found: list[str] = []
    try:
        for name in sorted(sessions.servers()):
            tools = await sessions.list_tools(name)
            found.append(f"{name}: {len(tools)} tools")
    except McpServerUnavailable as error:
        raise McpStartupError(f"{error} (MCP_SERVERS_FILE {settings.mcp_servers_file})") from None
    finally:
        await sessions.aclose()
    return found
