"""`python -m starter mcp`: the product as an MCP server (the official `mcp` SDK's `MCPServer`), over
stdio, or over streamable HTTP with `--http HOST:PORT` behind a bearer token (`MCP_SERVER_TOKEN`).

Tools: `ask`, `research`, `agent`, `start_run`, `run_status`, `run_result`, `pending_approvals`,
`session_send`, `session_transcript`, and `approve` / `reject` only when the server holds an
approver's key (`MCP_SERVER_APPROVER_KEY_FILE`, `MCP_SERVER_APPROVER`). Resources:
`run://{workflow_id}` (status) and `run://{workflow_id}/result`. Each tool's input schema is its
arguments model (starter.mcp_arguments: the workflows' own fields); a failure is a tool error whose
text is the product's one-line reason, never a crashed server.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, create_model
from temporalio.service import RPCError

from common.approval_signing import KeyFileError, load_private_key
from common.client import TemporalUnreachable
from common.settings import Settings
from starter import api, mcp_arguments
from starter.mcp_tools import Approver, Progress, RunTools, TemporalConnection

__all__ = ["SERVER_NAME", "McpConfigError", "approver_of", "build_server", "serve"]

SERVER_NAME = "ai-workflows"
INSTRUCTIONS = (
    "Durable AI workflow runs on Temporal. `ask` answers from an indexed corpus with citations; "
    "`research` and `agent` start runs that outlive this connection: when one is still running after "
    "wait_s, call `run_result` with its workflow_id later. Approvals are decided by people "
    "(the inbox, python -m starter approve) unless this server lists `approve` / `reject`."
)

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
# Starting a run adds one (and may spend model tokens); it changes nothing that exists.
STARTS_RUN = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
# A run that may reach beyond the product (web search, delivery, an agent's tools).
STARTS_OPEN_RUN = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
# How `research` and `agent` answer, after the sentence that says what their run does.
FOLLOWS_RUN = (
    " Waits up to wait_s: the result, or the run's workflow_id and status (call run_result later)."
    " Reports each step as progress."
)


class McpConfigError(Exception):
    """A setting the MCP server cannot work with; the message names it."""


Handler = Callable[[Any, Context], Awaitable[dict[str, Any]]]
Reporting = Callable[[Any, Progress], Awaitable[dict[str, Any]]]  # a RunTools method that reports progress
ReadRun = Callable[[str], Awaitable[str]]  # a resource's reader: the run's workflow id -> its JSON


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    arguments: type[BaseModel] | None
    annotations: ToolAnnotations
    handler: Handler


def _progress(ctx: Context) -> Progress:
    async def report(count: float, message: str) -> None:
        await ctx.report_progress(count, None, message)

    return report


def _reporting(method: Reporting) -> Handler:
    """The handler of a tool whose method reports the run's steps as the call's progress."""
    return lambda args, ctx: method(args, _progress(ctx))


def _plain(method: Callable[[Any], Awaitable[dict[str, Any]]]) -> Handler:
    """The handler of a tool whose method takes its arguments alone."""
    return lambda args, ctx: method(args)


def _followed_runs(tools: RunTools) -> list[ToolSpec]:
    """`research` and `agent`: each starts its run and follows it for up to wait_s."""
    research = (
        "Start a ResearchWorkflow (plan, research each subtopic, write a report; with approvers, the "
        "report waits for a person's decision)."
    )
    agent = (
        "Start an AgentWorkflow (a model that calls tools until the goal is met; side-effect tools "
        "wait for a person's approval)."
    )
    table: list[tuple[str, str, str, type[BaseModel], Reporting]] = [
        ("research", "Research a topic", research, mcp_arguments.ResearchArguments, tools.research),
        ("agent", "Run an agent", agent, mcp_arguments.AgentArguments, tools.agent),
    ]
    return [
        ToolSpec(name, title, starts + FOLLOWS_RUN, arguments, STARTS_OPEN_RUN, _reporting(follow))
        for name, title, starts, arguments, follow in table
    ]


def _decisions(tools: RunTools, who: str) -> list[ToolSpec]:
    """`approve` and `reject`, signed with the key of the approver the server holds."""
    what = (
        f"a run's pending action as {who}, signed with {who}'s key (only for runs whose workers check "
        "signed decisions)."
    )
    table = [
        ("Approve", " Lets the action happen.", mcp_arguments.ApproveArguments, True, tools.approve),
        ("Reject", "", mcp_arguments.DecideArguments, False, tools.reject),
    ]
    return [
        ToolSpec(
            verb.lower(),
            f"{verb} as {who}",
            f"{verb} {what}{effect}",
            arguments,
            ToolAnnotations(read_only_hint=False, destructive_hint=destructive, idempotent_hint=False),
            _plain(decide),
        )
        for verb, effect, arguments, destructive, decide in table
    ]


def tool_specs(tools: RunTools) -> list[ToolSpec]:
    specs = [
        ToolSpec(
            "ask",
            "Ask the docs",
            "Answer a question from an indexed corpus (AnswerWorkflow, run to its end): the answer, its "
            "citations (source, passage id, quote) and the outcome (grounded, unverified, no_answer). "
            "Reports each step as progress.",
            mcp_arguments.AskArguments,
            STARTS_RUN,
            _reporting(tools.ask),
        ),
        *_followed_runs(tools),
        ToolSpec(
            "start_run",
            "Start any workflow",
            "Start a run of any workflow type the product knows, with its input object; returns its "
            "workflow_id at once (run_status, run_result follow it).",
            mcp_arguments.StartRunArguments,
            STARTS_OPEN_RUN,
            lambda args, ctx: tools.start_run(args),
        ),
        ToolSpec(
            "run_status",
            "Run status",
            "A run's status: phase, what it waits for (the pending approval's action in full), usage, "
            "cost, completed steps, decisions.",
            mcp_arguments.RunStatusArguments,
            READ_ONLY,
            lambda args, ctx: tools.run_status(args),
        ),
        ToolSpec(
            "run_result",
            "Run result",
            "A run's result, waiting up to wait_s for it to end (reporting its steps as progress); still "
            "running then: its status. Works for any run, e.g. one started by a client that went away.",
            mcp_arguments.RunResultArguments,
            READ_ONLY,
            _reporting(tools.run_result),
        ),
        ToolSpec(
            "pending_approvals",
            "Pending approvals",
            "The runs waiting for a person's decision, each with its status (the action in full, who may "
            "approve, the deadline).",
            None,
            READ_ONLY,
            lambda args, ctx: tools.pending_approvals(),
        ),
        ToolSpec(
            "session_send",
            "Send to a session",
            "Send a message into a session (a SessionWorkflow conversation); returns once the session "
            "recorded it: its message id, turn and how it was taken. Read replies with session_transcript.",
            mcp_arguments.SessionSendArguments,
            ToolAnnotations(
                read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
            ),
            lambda args, ctx: tools.session_send(args),
        ),
        ToolSpec(
            "session_transcript",
            "Session transcript",
            "A session's transcript entries after entry `after`, with its phase and turn.",
            mcp_arguments.SessionTranscriptArguments,
            READ_ONLY,
            lambda args, ctx: tools.session_transcript(args),
        ),
    ]
    if tools.approver is not None:
        specs += _decisions(tools, tools.approver.name)
    return specs


def _text_result(data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(data))], structured_content=data)


def _error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


async def _answered(call: Callable[[], Awaitable[dict[str, Any]]]) -> CallToolResult:
    """The call's JSON, or a tool error with the product's one-line reason."""
    try:
        return _text_result(await call())
    except (api.StarterError, TemporalUnreachable, KeyFileError) as error:
        return _error_result(str(error))
    except RPCError as error:
        return _error_result(f"Temporal refused the request: {error.message}")


def as_tool(spec: ToolSpec) -> Tool:
    """The SDK's tool: the published schema is the arguments model's; the SDK passes the arguments
    through as given and `parse_arguments` checks them, so a bad one is one line, not pydantic's
    multi-line report."""
    model = spec.arguments
    fields: dict[str, Any] = {name: (Any, None) for name in (model.model_fields if model else {})}
    passthrough = create_model(f"{spec.name}_call", __base__=ArgModelBase, **fields)

    async def call(ctx: Context, **raw: Any) -> CallToolResult:
        async def run() -> dict[str, Any]:
            args = mcp_arguments.parse_arguments(model, raw) if model is not None else None
            return await spec.handler(args, ctx)

        return await _answered(run)

    schema = model.model_json_schema() if model is not None else {"type": "object", "properties": {}}
    return Tool(
        fn=call,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=schema,
        fn_metadata=FuncMetadata(arg_model=passthrough),
        is_async=True,
        context_kwarg="ctx",
        annotations=spec.annotations,
    )


def approver_of(settings: Settings) -> Approver | None:
    """The approver the server decides for: both settings or neither, and a key file it can use."""
    key_file, name = settings.mcp_server_approver_key_file, (settings.mcp_server_approver or "").strip()
    if key_file is None and not name:
        return None
    if key_file is None or not name:
        raise McpConfigError(
            "MCP_SERVER_APPROVER_KEY_FILE and MCP_SERVER_APPROVER: set both (the approver's .key and name), or neither"
        )
    try:
        load_private_key(key_file)
    except KeyFileError as error:
        raise McpConfigError(f"MCP_SERVER_APPROVER_KEY_FILE: {error}") from None
    return Approver(name, key_file)


def build_server(settings: Settings) -> MCPServer:
    """The MCP server on these settings (Temporal is connected on the first call that needs it)."""
    tools = RunTools(settings, TemporalConnection(settings), approver_of(settings))
    server = MCPServer(
        SERVER_NAME,
        title="AI workflows",
        instructions=INSTRUCTIONS,
        tools=[as_tool(spec) for spec in tool_specs(tools)],
        log_level="WARNING",
    )

    def json_resource(uri: str, name: str, description: str) -> Callable[[ReadRun], ReadRun]:
        return server.resource(uri, name=name, description=description, mime_type="application/json")

    @json_resource("run://{workflow_id}", "run status", "A run's status (as run_status).")
    async def run_status(workflow_id: str) -> str:
        arguments = mcp_arguments.RunStatusArguments(workflow_id=workflow_id)
        return await _resource(lambda: tools.run_status(arguments))

    @json_resource(
        "run://{workflow_id}/result",
        "run result",
        "A run's result once it has ended; while it runs, its status with done: false.",
    )
    async def run_result(workflow_id: str) -> str:
        arguments = mcp_arguments.RunResultArguments(workflow_id=workflow_id, wait_s=0)
        return await _resource(lambda: tools.run_result(arguments, _no_progress))

    return server


async def _no_progress(count: float, message: str) -> None:
    return None


async def _resource(read: Callable[[], Awaitable[dict[str, Any]]]) -> str:
    try:
        return json.dumps(await read())
    except api.StarterError as error:
        if str(error).startswith("no workflow with id"):
            raise ResourceNotFoundError(str(error)) from None
        raise ResourceError(str(error)) from None
    except TemporalUnreachable as error:
        raise ResourceError(str(error)) from None


async def serve(settings: Settings, http: str | None) -> int:
    """Serve until stdin closes (stdio) or the process is stopped (HTTP); a configuration error is
    one line on stderr and exit status 2."""
    try:
        server = build_server(settings)
        if http is None:
            await server.run_stdio_async()
            return 0
        from starter.mcp_http import serve_http

        return await serve_http(server, settings, http)
    except McpConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
