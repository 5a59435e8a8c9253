"""The MCP activities: `mcp.list_tools` (discovery, when a run starts) and `mcp.call_tool` (one
`tools/call`), and what the worker's configuration makes of a server's tools (`tool_policy`).

Their bodies (activities/mcp/calls.py) use the `mcp` SDK, which takes 0.7 s to import: a worker with
MCP servers loads them at start (`load_mcp_calls`); a worker without answers here (it knows no
server) and never imports the SDK.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mcp.config import TOOL_SEPARATOR, McpServerConfig, unknown_server
from activities.resources import resources
from common.contracts.mcp import McpCallRequest, McpListRequest, McpToolInfo, McpToolList
from common.contracts.tools import ToolObservation
from common.lazy_import import import_off_loop

if TYPE_CHECKING:
    from mcp_types import Tool, ToolAnnotations

__all__ = [
    "IDEMPOTENCY_META_KEY",
    "MCP_ACTIVITIES",
    "MCP_CONFIG",
    "MCP_TOOL_REFUSED",
    "MCP_UNAVAILABLE",
    "OFFERED_NAME",
    "ToolPolicy",
    "call_mcp_tool",
    "list_mcp_tools",
    "load_mcp_calls",
    "tool_info",
    "tool_policy",
]

# The call's idempotency key, in the request's `_meta`, for servers that deduplicate.
IDEMPOTENCY_META_KEY = "ai-workflows/idempotency-key"
MCP_UNAVAILABLE = "McpServerUnavailable"  # retryable
MCP_CONFIG = "McpConfigError"  # not retryable: the worker's file does not know the server
MCP_TOOL_REFUSED = "McpToolRefused"  # not retryable: the worker's configuration refuses the call
# What model APIs accept as a tool name (OpenAI allows 64 characters, Anthropic 128).
OFFERED_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CALLS = "activities.mcp.calls"


@dataclass(frozen=True)
class ToolPolicy:
    """What the worker's configuration makes of one tool of a server."""

    read_only: bool
    destructive: bool
    idempotent: bool
    needs_approval: bool

    @property
    def at_most_once(self) -> bool:
        return not self.read_only and not self.idempotent


def tool_policy(config: McpServerConfig, tool: str, hints: ToolAnnotations | None) -> ToolPolicy:
    """The server's annotations count only where the operator trusts them (`trustAnnotations`):
    otherwise a tool is read-only only when `readOnlyTools` lists it, so a server that lies about a
    destructive tool cannot skip the approval gate or the at-most-once ledger."""
    hints = hints if config.trust_annotations else None
    read_only = tool in config.read_only_tools or bool(hints and hints.read_only_hint is True)
    destructive = not read_only and not (hints and hints.destructive_hint is False)
    if config.approval == "always":
        needs_approval = True
    elif config.approval == "never":
        needs_approval = False
    else:
        needs_approval = not read_only or bool(hints and hints.destructive_hint is True)
    return ToolPolicy(
        read_only=read_only,
        destructive=destructive,
        idempotent=bool(hints and hints.idempotent_hint is True),
        needs_approval=needs_approval,
    )


def tool_info(server: str, config: McpServerConfig, tool: Tool) -> McpToolInfo:
    """What this product makes of a listed tool: its name for the model and its approval and
    at-most-once policies (`tool_policy`)."""
    policy = tool_policy(config, tool.name, tool.annotations)
    return McpToolInfo(
        name=f"{server}{TOOL_SEPARATOR}{tool.name}",
        server=server,
        tool=tool.name,
        description=tool.description or tool.title or tool.name,
        input_schema=tool.input_schema,
        **asdict(policy),  # read_only, destructive, idempotent, needs_approval
        at_most_once=policy.at_most_once,
        call_timeout_s=config.call_timeout_s,
    )


def load_mcp_calls() -> None:
    """Imports the activities' bodies and the SDK now: for a worker with MCP servers, at start-up."""
    import_module(_CALLS)


def _servers_configured() -> bool:
    return bool(resources().settings.mcp_servers_file)


@activity.defn(name="mcp.list_tools")
async def list_mcp_tools(request: McpListRequest) -> McpToolList:
    """The allowed tools of the named servers, sorted by name (the run records this list)."""
    if not _servers_configured():
        return McpToolList(unknown_servers=sorted(set(request.servers)))
    await import_off_loop(_CALLS)  # a worker that did not load it at start
    from activities.mcp import calls

    return await calls.list_tools(request)


@activity.defn(name="mcp.call_tool")
async def call_mcp_tool(request: McpCallRequest) -> ToolObservation:
    """One `tools/call`, after the worker's own configuration allowed it: the server's allow and deny
    lists, and for a tool that needs approval, a decision approving exactly this call. What the
    workflow says of the tool (its recorded discovery) is never trusted for either. A tool that is
    not idempotent is sent at most once (activities/mcp/calls.py)."""
    if not _servers_configured():
        raise ApplicationError(str(unknown_server(request.server)), type=MCP_CONFIG, non_retryable=True)
    await import_off_loop(_CALLS)  # a worker that did not load it at start
    from activities.mcp import calls

    return await calls.call_tool(request)


MCP_ACTIVITIES = (list_mcp_tools, call_mcp_tool)
