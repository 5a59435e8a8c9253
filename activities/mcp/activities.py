"""The MCP activities: `mcp.list_tools` (discovery, when a run starts) and `mcp.call_tool` (one
`tools/call`).

A call of a tool that is not idempotent is sent at most once: its idempotency key is claimed in the
dedupe ledger before it is sent and its result recorded after. An attempt that finds the key
claimed but no result (the worker or the connection died in between) does not send it again: the
run gets an error observation saying the outcome is unknown.
"""

from __future__ import annotations

import logging
import re

from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT, RequestParamsMeta, Tool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery.ledger import DedupeLedger, open_ledger
from activities.mcp.config import TOOL_SEPARATOR, McpConfigError, McpServerConfig
from activities.mcp.content import observation_of
from activities.mcp.sessions import McpServerUnavailable, McpSessions, describe_failure
from activities.resources import resources
from common.contracts.mcp import McpCallRequest, McpListRequest, McpToolInfo, McpToolList
from common.contracts.tools import ToolObservation
from common.settings import Settings

__all__ = [
    "IDEMPOTENCY_META_KEY",
    "MCP_ACTIVITIES",
    "MCP_UNAVAILABLE",
    "call_mcp_tool",
    "list_mcp_tools",
    "mcp_sessions",
    "tool_info",
]

log = logging.getLogger(__name__)

# The call's idempotency key, in the request's `_meta`, for servers that deduplicate.
IDEMPOTENCY_META_KEY = "ai-workflows/idempotency-key"
MCP_UNAVAILABLE = "McpServerUnavailable"  # retryable
MCP_CONFIG = "McpConfigError"  # not retryable: the worker's file does not know the server
LEDGER_CHANNEL = "mcp"
# What model APIs accept as a tool name (OpenAI allows 64 characters, Anthropic 128).
OFFERED_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TRANSPORT_CODES = {CONNECTION_CLOSED, REQUEST_TIMEOUT}


def mcp_sessions() -> McpSessions:
    return resources().get("mcp_sessions", McpSessions.from_settings)


def _ledger() -> DedupeLedger:
    def open_it(settings: Settings) -> DedupeLedger:
        dsn = settings.dedupe_ledger_dsn.get_secret_value() if settings.dedupe_ledger_dsn else None
        return open_ledger(settings.dedupe_ledger_path, dsn)

    return resources().get("mcp_ledger", open_it)


def tool_info(server: str, config: McpServerConfig, tool: Tool) -> McpToolInfo:
    """What this product makes of a listed tool: its name for the model and its approval and
    at-most-once policies (from its annotations and the server's `approval`)."""
    hints = tool.annotations
    read_only = bool(hints and hints.read_only_hint is True)
    destructive = not read_only and not (hints and hints.destructive_hint is False)
    idempotent = bool(hints and hints.idempotent_hint is True)
    if config.approval == "always":
        needs_approval = True
    elif config.approval == "never":
        needs_approval = False
    else:
        needs_approval = not read_only or bool(hints and hints.destructive_hint is True)
    return McpToolInfo(
        name=f"{server}{TOOL_SEPARATOR}{tool.name}",
        server=server,
        tool=tool.name,
        description=tool.description or tool.title or tool.name,
        input_schema=tool.input_schema,
        read_only=read_only,
        destructive=destructive,
        idempotent=idempotent,
        needs_approval=needs_approval,
        at_most_once=not read_only and not idempotent,
        call_timeout_s=config.call_timeout_s,
    )


@activity.defn(name="mcp.list_tools")
async def list_mcp_tools(request: McpListRequest) -> McpToolList:
    """The allowed tools of the named servers, sorted by name (the run records this list)."""
    sessions = mcp_sessions()
    known = sessions.servers()
    found = McpToolList(unknown_servers=sorted(set(request.servers) - known.keys()))
    for server in sorted(set(request.servers) & known.keys()):
        config = known[server]
        try:
            listed = await sessions.list_tools(server)
        except McpServerUnavailable as error:
            raise ApplicationError(str(error), type=MCP_UNAVAILABLE) from None
        for tool in listed:
            info = tool_info(server, config, tool)
            if not config.allows(tool.name):
                continue
            if not OFFERED_NAME.match(info.name):
                log.warning(
                    "MCP tool %r is not offered: %r is not a valid tool name for models", tool.name, info.name
                )
                continue
            found.tools.append(info)
    found.tools.sort(key=lambda info: info.name)
    return found


@activity.defn(name="mcp.call_tool")
async def call_mcp_tool(request: McpCallRequest) -> ToolObservation:
    sessions = mcp_sessions()
    try:
        # Connect first: a server that is down fails the attempt before anything is claimed.
        client = await sessions.client(request.server)
    except McpConfigError as error:
        raise ApplicationError(str(error), type=MCP_CONFIG, non_retryable=True) from None
    except McpServerUnavailable as error:
        raise ApplicationError(str(error), type=MCP_UNAVAILABLE) from None
    key = request.idempotency_key
    ledger = _ledger() if request.at_most_once else None
    if ledger is not None:
        if not key:
            raise ApplicationError(
                f"{request.name}: an at-most-once call needs an idempotency key",
                type="InvalidToolArguments",
                non_retryable=True,
            )
        claim = await ledger.claim(key, LEDGER_CHANNEL, request.name)
        if claim.already_sent:
            return ToolObservation.model_validate_json(claim.detail)
        if claim.attempt > 1:
            return ToolObservation(
                content=(
                    f"{request.name}: the outcome of this call is unknown. It was sent once and its "
                    "result never came back (the worker or the connection stopped); it is not sent "
                    "again, since the tool is not idempotent. Check on the server before retrying."
                ),
                is_error=True,
            )
    try:
        result = await client.call_tool(
            request.tool,
            request.arguments,
            read_timeout_seconds=request.call_timeout_s,
            meta=_meta(key),
        )
        observation = observation_of(result)
    except MCPError as error:
        if error.code in _TRANSPORT_CODES:
            await sessions.drop(request.server, client)
            raise ApplicationError(
                f"MCP server {request.server!r}: {error.message}", type=MCP_UNAVAILABLE
            ) from None
        # The server refused the request (unknown tool, bad arguments): the model reads why.
        observation = ToolObservation(
            content=f"{request.name}: the server refused the call: {error.message}", is_error=True
        )
    except Exception as error:
        await sessions.drop(request.server, client)
        raise ApplicationError(
            f"MCP server {request.server!r}: the call failed in transport: {describe_failure(error)}",
            type=MCP_UNAVAILABLE,
        ) from None
    if ledger is not None and key:
        await ledger.mark_sent(key, observation.model_dump_json())
    return observation


def _meta(key: str | None) -> RequestParamsMeta | None:
    if not key:
        return None
    meta = RequestParamsMeta()
    meta[IDEMPOTENCY_META_KEY] = key  # type: ignore[literal-required]  # an open map (extra_items)
    return meta


MCP_ACTIVITIES = (list_mcp_tools, call_mcp_tool)
