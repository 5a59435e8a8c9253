"""The MCP servers file (`MCP_SERVERS_FILE`): the `mcpServers` format MCP clients share, so a server
can be pasted from another client's config, plus this product's keys beside each server.

    {"mcpServers": {
        "files": {"command": "python", "args": ["-m", "examples.mcp.files_server"],
                  "env": {"FILES_ROOT": "/srv/share"}, "denyTools": ["delete_file"]},
        "tickets": {"url": "https://mcp.example.com/mcp",
                    "headers": {"Authorization": "Bearer ${TICKETS_TOKEN}"},
                    "approval": "always", "callTimeoutSeconds": 120},
        "time": {"command": "uvx", "args": ["mcp-server-time"], "readOnlyTools": ["get_current_time"]}}}

A stdio server gets a minimal environment (the SDK's PATH, HOME, USER..., plus locale) and what its
`env` names: no secret of the worker's leaks to it. `${VAR}` in `env` and `headers` values is read
from the worker's environment when the file is loaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.json_file import first_problem, read_json_file

__all__ = [
    "TOOL_SEPARATOR",
    "McpConfig",
    "McpConfigError",
    "McpServerConfig",
    "load_mcp_config",
    "stdio_environment",
    "unknown_server",
]

# A tool is offered to the model as `{server}__{tool}`.
TOOL_SEPARATOR = "__"
# What model APIs accept as a tool name (Anthropic: ^[a-zA-Z0-9_-]{1,128}$; OpenAI: 64).
SERVER_NAME = re.compile(r"^[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Not secrets, and what programs need to start (the SDK adds PATH, HOME, LOGNAME, SHELL, TERM, USER).
_PASSED_ENVIRONMENT = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")

ApprovalMode = Literal["annotations", "always", "never"]


class McpConfigError(Exception):
    """The servers file cannot be used; the message is one line naming the file and the problem."""


def unknown_server(name: str) -> McpConfigError:
    return McpConfigError(f"MCP server {name!r} is not in this worker's MCP_SERVERS_FILE")


class McpServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    # stdio
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    # streamable HTTP
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # Written by some clients next to the above; `disabled` servers are skipped.
    type: Literal["stdio", "http", "streamable-http", "streamableHttp"] | None = None
    disabled: bool = False

    # This product's keys. Tools offered: `allowTools` (all when absent) minus `denyTools`.
    allow_tools: list[str] | None = Field(default=None, alias="allowTools")
    deny_tools: list[str] = Field(default_factory=list, alias="denyTools")
    # "annotations": a person approves every call unless the tool is read-only: listed in
    # `readOnlyTools`, or marked `readOnlyHint: true` (and not destructive) by a server whose
    # annotations the operator trusts (`trustAnnotations`). The MCP specification calls a server's
    # annotations hints, untrusted unless the server is: a lying server must not skip the gate.
    approval: ApprovalMode = "annotations"
    trust_annotations: bool = Field(default=False, alias="trustAnnotations")
    read_only_tools: list[str] = Field(default_factory=list, alias="readOnlyTools")
    call_timeout_s: float = Field(default=60.0, gt=0, le=3600, alias="callTimeoutSeconds")
    connect_timeout_s: float = Field(default=15.0, gt=0, le=300, alias="connectTimeoutSeconds")

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (stdio) or `url` (streamable HTTP)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("`url` must be an http:// or https:// URL")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "http"

    def allows(self, tool: str) -> bool:
        if tool in self.deny_tools:
            return False
        return self.allow_tools is None or tool in self.allow_tools


class McpConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    servers: dict[str, McpServerConfig] = Field(alias="mcpServers")

    def enabled(self) -> dict[str, McpServerConfig]:
        return {name: server for name, server in self.servers.items() if not server.disabled}


def load_mcp_config(path: str | Path, environ: dict[str, str] | None = None) -> McpConfig:
    """The file parsed and checked, `${VAR}`s filled in; raises `McpConfigError` (one line)."""
    where = f"MCP_SERVERS_FILE {path}"
    raw = read_json_file(path, where, McpConfigError)
    if not isinstance(raw, dict) or not isinstance(raw.get("mcpServers"), dict):
        raise McpConfigError(f'{where}: expected an object with "mcpServers": {{"NAME": {{...}}}}')
    try:
        config = McpConfig.model_validate(raw)
    except ValidationError as error:
        raise McpConfigError(f"{where}: {first_problem(error)}") from None
    environ = dict(os.environ) if environ is None else environ
    servers: dict[str, McpServerConfig] = {}
    for name, server in config.servers.items():
        if not SERVER_NAME.match(name) or TOOL_SEPARATOR in name:
            raise McpConfigError(
                f"{where}: server name {name!r}: use letters, digits, '-' and single '_' "
                f"(tools are offered as NAME{TOOL_SEPARATOR}TOOL)"
            )
        try:
            servers[name] = server.model_copy(
                update={
                    "env": {k: _expand(v, environ) for k, v in server.env.items()},
                    "headers": {k: _expand(v, environ) for k, v in server.headers.items()},
                }
            )
        except KeyError as missing:
            raise McpConfigError(
                f"{where}: server {name!r} refers to ${{{missing.args[0]}}}, which is not set"
            ) from None
    return McpConfig(servers=servers)


def stdio_environment(server: McpServerConfig, environ: dict[str, str] | None = None) -> dict[str, str]:
    """A stdio server's environment besides the SDK's defaults: locale, then its own `env`."""
    environ = dict(os.environ) if environ is None else environ
    passed = {key: environ[key] for key in _PASSED_ENVIRONMENT if key in environ}
    return {**passed, **server.env}


def _expand(value: str, environ: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda match: environ[match.group(1)], value)
