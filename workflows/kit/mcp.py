"""MCP tools in a run: discovery (an activity, so the tool list is recorded in the run's history and
the run keeps it whatever the server lists later) and `McpTool`, a `WorkflowTool` that sends one
`tools/call` per call as the `mcp.call_tool` activity.

    if mcp_servers_named(params.tools):
        infos = await discover_mcp_tools(params.tools)       # recorded in history
        names, tools = mcp_tools_from(params.tools, infos, can_approve=ctx.can_approve)
        specs = ctx.offer_tools(names, extra=tools)

A run names MCP tools as `{server}__{tool}`, or `{server}__*` for all of a server's allowed tools.

Workflow code only: nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.mcp.activities import call_mcp_tool, list_mcp_tools
    from activities.mcp.config import TOOL_SEPARATOR
    from activities.tools.declare import registry
    from common.contracts.llm import ToolSpec
    from common.contracts.mcp import McpCallRequest, McpListRequest, McpToolInfo
    from common.contracts.runs import ApprovalRecord, invalid_input
    from common.contracts.tools import ToolObservation
    from workflows.activity_options import MCP_DISCOVERY, ActivityOptions
    from workflows.activity_options import mcp_call_options as call_options
    from workflows.kit.context import RunContext
    from workflows.kit.tools import InvalidArguments, WorkflowTool, refuse_undeclared

__all__ = [
    "MCP_DISCOVERY",
    "McpTool",
    "discover_mcp_tools",
    "mcp_call_options",
    "mcp_servers_named",
    "mcp_tools_from",
    "offer_run_tools",
]

WILDCARD = "*"


def mcp_call_options(info: McpToolInfo) -> ActivityOptions:
    """The options of a call of this tool (`workflows.activity_options.mcp_call_options`)."""
    return call_options(info.call_timeout_s)


def mcp_servers_named(names: Sequence[str] | None) -> list[str]:
    """The MCP servers `names` refer to (names with `__` that are no `@tool`), sorted."""
    servers = {
        name.split(TOOL_SEPARATOR, 1)[0]
        for name in names or ()
        if TOOL_SEPARATOR in name and name not in registry
    }
    return sorted(servers)


async def discover_mcp_tools(names: Sequence[str]) -> list[McpToolInfo]:
    """Lists the tools of the servers `names` refer to (one activity: the list goes into history).
    A server the worker does not know fails the run: its input can never succeed."""
    servers = mcp_servers_named(names)
    found = await workflow.execute_activity(
        list_mcp_tools,
        McpListRequest(servers=servers),
        summary=f"mcp discovery {', '.join(servers)}",
        **MCP_DISCOVERY.kwargs(),
    )
    if found.unknown_servers:
        raise invalid_input(
            f"unknown MCP servers {found.unknown_servers}: not in the worker's MCP_SERVERS_FILE"
        )
    return found.tools


def mcp_tools_from(
    names: Sequence[str], infos: Sequence[McpToolInfo], *, can_approve: bool
) -> tuple[list[str], list[McpTool]]:
    """`names` with each `{server}__*` replaced by that server's tools (like a run without `tools`:
    those that need approval only when someone can approve), and the tools to offer."""
    tools = [McpTool(info) for info in infos]
    expanded: list[str] = []
    for name in names:
        server, _, tool = name.partition(TOOL_SEPARATOR)
        if tool == WILDCARD:
            matches = [
                t.name for t in tools if t.info.server == server and (can_approve or not t.needs_approval)
            ]
        else:
            matches = [name]
        expanded += [match for match in matches if match not in expanded]
    return expanded, tools


async def offer_run_tools(
    ctx: RunContext, names: Sequence[str] | None, discovered: list[McpToolInfo] | None
) -> tuple[list[ToolSpec], list[McpToolInfo] | None]:
    """The tools a run offers its model, by name (`None`: the defaults), MCP tools included: their
    servers are listed once, when the run starts (`discovered` is that list in a later run, carried
    across continue-as-new), so a run keeps the tools it started with. A run without MCP tools
    issues no discovery at all. Returns the specs to send and the discovery to carry."""
    if names is None or not mcp_servers_named(names):
        return ctx.offer_tools(names), discovered
    if discovered is None:
        discovered = await discover_mcp_tools(names)
    expanded, tools = mcp_tools_from(names, discovered, can_approve=ctx.can_approve)
    return ctx.offer_tools(expanded, extra=tools), discovered


class McpTool(WorkflowTool):
    """A tool of an MCP server, as discovery recorded it."""

    def __init__(self, info: McpToolInfo) -> None:
        self.info = info
        self.name = info.name
        self.needs_approval = info.needs_approval
        # Every call that may change something carries a key (to the server in `_meta`; for
        # at-most-once tools, into the ledger).
        self.needs_key = not info.read_only

    def spec(self) -> ToolSpec:
        schema = self.info.input_schema or {"type": "object", "properties": {}}
        return ToolSpec(name=self.name, description=self.info.description, input_schema=schema)

    def parse(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The schema's top level only (required and undeclared properties, whatever the schema's
        `additionalProperties` says): the server checks the rest and answers a bad call with an
        error the model reads."""
        schema = self.info.input_schema
        missing = [name for name in schema.get("required") or () if name not in arguments]
        if missing:
            raise InvalidArguments(f"missing required arguments {missing}")
        refuse_undeclared(arguments, schema)
        return dict(arguments)

    async def run(
        self, arguments: dict[str, Any], key: str | None, summary: str, approval: ApprovalRecord | None = None
    ) -> ToolObservation:
        request = McpCallRequest(
            name=self.name,
            server=self.info.server,
            tool=self.info.tool,
            arguments=arguments,
            idempotency_key=key,
            at_most_once=self.info.at_most_once,
            call_timeout_s=self.info.call_timeout_s,
            approval=approval,
        )
        return await workflow.execute_activity(
            call_mcp_tool, request, summary=summary, **mcp_call_options(self.info).kwargs()
        )
