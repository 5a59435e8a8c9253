"""`python -m worker.codec_server`: decodes encrypted payloads for the Temporal Web UI and CLI.

The server only ever sees ciphertext (see common/encryption.py). The Web UI (Settings -> Codec
Server) or `temporal workflow show --codec-endpoint URL --codec-auth "Bearer TOKEN"` posts the
payloads to this server, which holds the keys, and shows the plain text to the person asking.

- `POST /decode`, `POST /encode`: Temporal's codec-server JSON (`{"payloads": [...]}`, protobuf JSON
  with base64 `data` and metadata values).
- Every call needs `Authorization: Bearer <CODEC_SERVER_TOKEN>`; without it: 401.
- CORS only for the origins in CODEC_SERVER_ALLOWED_ORIGINS (default: the dev server's Web UI); a
  browser page from any other origin gets no CORS headers, so it cannot read a decoded payload.
- `GET /health`: liveness, no token, no payloads.
"""

from __future__ import annotations

import hmac
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from common.encryption import EncryptionCodec, PayloadDecryptionError
from common.settings import Settings, load_settings

log = logging.getLogger("worker.codec_server")

ALLOWED_METHODS = "POST, OPTIONS"
# What the Web UI sends: JSON, the namespace, and (with "pass access token") the caller's token.
ALLOWED_HEADERS = "authorization, content-type, x-namespace"
MAX_BODY_BYTES = 8 * 1024 * 1024  # a page of history; Temporal's own payload limit is 2 MB each

CodecCall = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


class OriginPolicy:
    """CORS for an exact list of origins. Unlike a permissive middleware, a foreign origin gets no
    `Access-Control-*` header at all, and its preflight is refused."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]):
        self.app = app
        self.allowed = frozenset(o.strip().rstrip("/") for o in allowed_origins if o.strip())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        allowed = origin is not None and origin in self.allowed
        if preflight:
            response: Response = (
                Response(status_code=204, headers=self._preflight_headers(origin))
                if allowed and origin is not None
                else PlainTextResponse("origin not allowed", status_code=403)
            )
            await response(scope, receive, send)
            return
        if not allowed or origin is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-credentials", b"true"),
                    (b"vary", b"Origin"),
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    def _preflight_headers(origin: str) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }


def _authorized(request: Request, token: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    # Constant-time comparison: response timing does not reveal how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _endpoint(call: CodecCall, token: str) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        if not _authorized(request, token):
            return JSONResponse(
                {"error": "missing or wrong bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, json.JSONDecodeError, UnicodeDecodeError) as error:
            return _error(400, f'expected {{"payloads": [...]}} in protobuf JSON: {error}')
        try:
            result = await call(payloads.payloads)
        except PayloadDecryptionError as error:
            return _error(422, str(error))
        return Response(json_format.MessageToJson(Payloads(payloads=result)), media_type="application/json")

    return handle


async def _health(_: Request) -> Response:
    return PlainTextResponse("ok")


def build_app(codec: PayloadCodec, token: str, allowed_origins: Iterable[str]) -> ASGIApp:
    if not token:
        raise ValueError("the codec server needs a token")
    app = Starlette(
        routes=[
            Route("/encode", _endpoint(codec.encode, token), methods=["POST"]),
            Route("/decode", _endpoint(codec.decode, token), methods=["POST"]),
            Route("/health", _health, methods=["GET"]),
        ]
    )
    return OriginPolicy(app, allowed_origins)


def app_from_settings(settings: Settings) -> ASGIApp:
    """The app for these settings; `ValueError` naming the variable when one is missing."""
    keys = settings.payload_keys.get_secret_value().strip() if settings.payload_keys else ""
    if not keys:
        raise ValueError("PAYLOAD_KEYS: required, the codec server decodes with these keys")
    token = settings.codec_server_token.get_secret_value() if settings.codec_server_token else ""
    if not token.strip():
        raise ValueError("CODEC_SERVER_TOKEN: required, callers authenticate with it")
    origins = settings.codec_server_allowed_origins.split(",")
    return build_app(EncryptionCodec.from_setting(keys), token.strip(), origins)


def main() -> int:
    import uvicorn

    settings = load_settings()
    try:
        app = app_from_settings(settings)
    except ValueError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    host, port = settings.codec_server_bind.rsplit(":", 1)
    log.info(
        "codec server on http://%s:%s, CORS origins: %s",
        host,
        port,
        settings.codec_server_allowed_origins,
    )
    uvicorn.run(app, host=host.strip("[]"), port=int(port), log_level="info")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(main())
