"""What goes into and comes out of the MCP activities (shared by workflows and activities)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from common.contracts.runs import ApprovalRecord

__all__ = ["McpCallRequest", "McpListRequest", "McpToolInfo", "McpToolList"]


class McpToolInfo(BaseModel):
    """One tool as discovery found it, with what this product decided about it; recorded in the
    run's history, so the run keeps it whatever the server lists later."""

    name: str  # as offered to the model: `{server}__{tool}`
    server: str
    tool: str  # as the server knows it
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)
    read_only: bool = False
    destructive: bool = True
    idempotent: bool = False
    needs_approval: bool = True
    # No `idempotentHint: true`: sent at most once (the dedupe ledger), never repeated by a retry.
    at_most_once: bool = True
    call_timeout_s: float = 60.0


class McpToolList(BaseModel):
    tools: list[McpToolInfo] = Field(default_factory=list)
    # Servers asked for that the worker does not know (not in its MCP_SERVERS_FILE).
    unknown_servers: list[str] = Field(default_factory=list)


class McpListRequest(BaseModel):
    servers: list[str]


class McpCallRequest(BaseModel):
    name: str
    server: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    at_most_once: bool = False
    call_timeout_s: float = 60.0
    # The gate's decision on this exact call, for a tool whose server's configuration requires one:
    # the activity checks it against the worker's own configuration, not what the workflow says.
    approval: ApprovalRecord | None = None
