"""The MCP server over streamable HTTP (`python -m starter mcp --http HOST:PORT`): the SDK's app at
`/mcp`, behind a bearer token (`MCP_SERVER_TOKEN`). No token set: no HTTP server, since anyone who
can reach the port could start runs and read their results."""

from __future__ import annotations

import hmac
import re
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from common.settings import Settings

__all__ = ["MCP_PATH", "BearerTokenRequired", "parse_bind", "serve_http"]

MCP_PATH = "/mcp"
_BIND = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$")


def parse_bind(value: str) -> tuple[str, int]:
    """`HOST:PORT` (a bracketed IPv6 host allowed); `ValueError` with one line otherwise."""
    match = _BIND.match(value.strip())
    if not match or not 0 <= int(match.group(2)) < 65536:
        raise ValueError(f"--http: expected HOST:PORT, got {value!r}")
    return match.group(1).strip("[]"), int(match.group(2))


class BearerTokenRequired:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <token>` (compared in constant
    time); otherwise 401 with `WWW-Authenticate: Bearer`. Lifespan events pass through."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            refused = JSONResponse(
                {"error": "invalid_token", "error_description": "a valid bearer token is required"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
            await refused(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = [value for name, value in scope.get("headers", []) if name == b"authorization"]
        return len(given) == 1 and hmac.compare_digest(given[0], self._expected)


async def serve_http(server: MCPServer, settings: Settings, bind: str) -> int:
    """Serve until stopped; a missing token or a bad address is one line on stderr (exit status 2)."""
    token = settings.mcp_server_token.get_secret_value().strip() if settings.mcp_server_token else ""
    if not token:
        print(
            "configuration error: MCP_SERVER_TOKEN: required for --http (clients send it as "
            "'Authorization: Bearer TOKEN'); the HTTP server does not start without it",
            file=sys.stderr,
        )
        return 2
    try:
        host, port = parse_bind(bind)
    except ValueError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    app = BearerTokenRequired(server.streamable_http_app(streamable_http_path=MCP_PATH, host=host), token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", server_header=False)
    print(f"MCP server on http://{bind}{MCP_PATH} (bearer token required)", file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve()
    return 0
