"""The bodies of the MCP activities (activities/mcp/activities.py), which use the `mcp` SDK: imported
only by a worker that has MCP servers configured, so that one without does not load the SDK.

A call of a tool that is not idempotent is sent at most once: its idempotency key is claimed in the
dedupe ledger before it is sent and its result recorded after. An attempt that finds the key
claimed but no result (the worker or the connection died in between) does not send it again: the
run gets an error observation saying the outcome is unknown.
"""

from __future__ import annotations

import logging

from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT, RequestParamsMeta, Tool, ToolAnnotations
from temporalio.exceptions import ApplicationError

from activities.delivery.ledger import DedupeLedger, open_ledger
from activities.mcp.activities import (
    IDEMPOTENCY_META_KEY,
    MCP_CONFIG,
    MCP_TOOL_REFUSED,
    MCP_UNAVAILABLE,
    OFFERED_NAME,
    ToolPolicy,
    tool_info,
    tool_policy,
)
from activities.mcp.config import McpConfigError
from activities.mcp.content import observation_of
from activities.mcp.reply_limit import REPLY_TOO_LARGE
from activities.mcp.sessions import McpServerUnavailable, McpSessions, describe_failure
from activities.resources import resources
from common.contracts.mcp import McpCallRequest, McpListRequest, McpToolList
from common.contracts.runs import action_hash
from common.contracts.tools import ToolObservation
from common.settings import Settings

__all__ = ["call_tool", "list_tools", "mcp_sessions"]

log = logging.getLogger(__name__)

LEDGER_CHANNEL = "mcp"
_TRANSPORT_CODES = {CONNECTION_CLOSED, REQUEST_TIMEOUT}


def mcp_sessions() -> McpSessions:
    return resources().get("mcp_sessions", McpSessions.from_settings)


def _ledger() -> DedupeLedger:
    def open_it(settings: Settings) -> DedupeLedger:
        dsn = settings.dedupe_ledger_dsn.get_secret_value() if settings.dedupe_ledger_dsn else None
        return open_ledger(settings.dedupe_ledger_path, dsn)

    return resources().get("mcp_ledger", open_it)


async def list_tools(request: McpListRequest) -> McpToolList:
    """`mcp.list_tools`: the allowed tools of the named servers, sorted by name."""
    sessions = mcp_sessions()
    known = sessions.servers()
    found = McpToolList(unknown_servers=sorted(set(request.servers) - known.keys()))
    for server in sorted(set(request.servers) & known.keys()):
        config = known[server]
        try:
            listed = await sessions.list_tools(server)
        except McpServerUnavailable as error:
            raise ApplicationError(str(error), type=MCP_UNAVAILABLE) from None
        _remember_annotations(server, listed)
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


async def call_tool(request: McpCallRequest) -> ToolObservation:
    """`mcp.call_tool`: one `tools/call`, after the worker's own configuration allowed it."""
    sessions = mcp_sessions()
    try:
        # Connect first: a server that is down fails the attempt before anything is claimed.
        client = await sessions.client(request.server)
    except McpConfigError as error:
        raise ApplicationError(str(error), type=MCP_CONFIG, non_retryable=True) from None
    except McpServerUnavailable as error:
        raise ApplicationError(str(error), type=MCP_UNAVAILABLE) from None
    policy = await _enforce_configuration(sessions, request)
    key = request.idempotency_key
    # At most once when either side says so: the request may only make a call stricter.
    ledger = _ledger() if request.at_most_once or policy.at_most_once else None
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
        # The server refused the request (unknown tool, bad arguments), or its reply was over what the
        # worker reads of one message (not the server's words): the model reads why.
        said = "" if error.code == REPLY_TOO_LARGE else "the server refused the call: "
        observation = ToolObservation(content=f"{request.name}: {said}{error.message}", is_error=True)
    except Exception as error:
        await sessions.drop(request.server, client)
        raise ApplicationError(
            f"MCP server {request.server!r}: the call failed in transport: {describe_failure(error)}",
            type=MCP_UNAVAILABLE,
        ) from None
    if ledger is not None and key:
        await ledger.mark_sent(key, observation.model_dump_json())
    return observation


async def _enforce_configuration(sessions: McpSessions, request: McpCallRequest) -> ToolPolicy:
    """Raises `McpToolRefused` (not retryable; the model reads why) unless the worker's configuration
    allows this call as it stands."""
    config = sessions.servers()[request.server]
    if not config.allows(request.tool):
        raise _refused(f"{request.name}: the server's allowTools/denyTools in MCP_SERVERS_FILE refuse it")
    hints = None
    if config.trust_annotations:
        known = _annotations().get(request.server, {})
        if request.tool not in known:
            _remember_annotations(request.server, await _listed(sessions, request.server))
            known = _annotations().get(request.server, {})
        hints = known.get(request.tool)
    policy = tool_policy(config, request.tool, hints)
    if policy.needs_approval:
        approval = request.approval
        expected = action_hash(request.name, request.arguments)
        if approval is None or not approval.approved or approval.action_hash != expected:
            raise _refused(
                f"{request.name}: the server's configuration requires a person's approval of this exact "
                "call, and the call came without one"
            )
    return policy


async def _listed(sessions: McpSessions, server: str) -> list[Tool]:
    try:
        return await sessions.list_tools(server)
    except McpServerUnavailable as error:
        raise ApplicationError(str(error), type=MCP_UNAVAILABLE) from None


def _annotations() -> dict[str, dict[str, ToolAnnotations | None]]:
    """The annotations each server last listed (only read for servers whose annotations are trusted)."""
    return resources().get("mcp_annotations", lambda _settings: {})


def _remember_annotations(server: str, listed: list[Tool]) -> None:
    _annotations()[server] = {tool.name: tool.annotations for tool in listed}


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=MCP_TOOL_REFUSED, non_retryable=True)


def _meta(key: str | None) -> RequestParamsMeta | None:
    if not key:
        return None
    meta = RequestParamsMeta()
    meta[IDEMPOTENCY_META_KEY] = key  # type: ignore[literal-required]  # an open map (extra_items)
    return meta
