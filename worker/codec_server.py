"""`python -m worker.codec_server`: decodes payloads for the Temporal Web UI and CLI.

Two things make a payload in history unreadable to the Web UI: encryption (PAYLOAD_KEYS; the history
holds only ciphertext, see common/encryption.py) and the payload store (PAYLOAD_STORE; a big payload
is a reference in history, its content in the store, see common/payload_store.py). The Web UI
(Settings -> Codec Server) or `temporal workflow show --codec-endpoint URL --codec-auth "Bearer
TOKEN"` posts the payloads to this server, which holds the keys and reads the store, and shows the
content to the person asking.

- `POST /decode`, `POST /encode`: Temporal's codec-server JSON (`{"payloads": [...]}`, protobuf JSON
  with base64 `data` and metadata values).
- Every call needs `Authorization: Bearer <CODEC_SERVER_TOKEN>` (CLI, SSO proxy), or, for the Web UI
  in a browser, the session cookie of `/login` (sign in there with the token once) together with an
  allowed `Origin`; without either: 401. A browser session is a random id this process remembers: it
  ends after CODEC_SERVER_SESSION_MAX_AGE_S, at `POST /logout`, at `DELETE /sessions` (bearer token:
  every browser session at once) and when the process stops.
- `/decode` resolves at most CODEC_SERVER_MAX_REFERENCES store references per request and answers at
  most CODEC_SERVER_MAX_RESPONSE_BYTES of payloads (else 413); a reference this server cannot read
  (a driver it does not have, no store configured) is a 422.
- `POST /login` allows CODEC_SERVER_LOGIN_MAX_ATTEMPTS tries per client address within
  CODEC_SERVER_LOGIN_WINDOW_S; past them it answers 429 (Retry-After) without checking the token, for
  a lockout that doubles on each repeat up to CODEC_SERVER_LOGIN_MAX_LOCKOUT_S (common/login_limits.py).
- CORS only for the origins in CODEC_SERVER_ALLOWED_ORIGINS (default: the dev server's Web UI); a
  browser page from any other origin gets no CORS headers, so it cannot read a decoded payload.
- `GET /health`: liveness, no token, no payloads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.converter._data_converter import _has_reference_marker, _is_reference_payload

from common.converter import build_data_converter
from common.encryption import PayloadDecryptionError
from common.login_limits import AttemptLimiter, format_wait
from common.payload_store import PayloadStoreError
from common.settings import Settings, configured_app

__all__ = [
    "Access",
    "AnswerTooLarge",
    "BrowserSessions",
    "CodecLimits",
    "OriginPolicy",
    "ProductPayloadCodec",
    "TooManyReferences",
    "UndecodablePayload",
    "app_from_settings",
    "build_app",
    "is_store_reference",
    "main",
    "normalize_origins",
]

log = logging.getLogger("worker.codec_server")

ALLOWED_METHODS = "POST, OPTIONS"
# What the Web UI sends: JSON, the namespace, and (with "pass access token") the caller's token.
ALLOWED_HEADERS = "authorization, content-type, x-namespace"
MAX_BODY_BYTES = 8 * 1024 * 1024
SESSION_COOKIE = "codec_session"
MAX_BROWSER_SESSIONS = 10_000  # the oldest is dropped past this: sign-ins cannot exhaust memory

CodecCall = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class CodecLimits:
    """What one caller may ask of the server (the CODEC_SERVER_* settings of the same names)."""

    session_max_age_s: float = 8 * 3600
    max_references: int = 32
    max_response_bytes: int = 32 * 1024 * 1024
    login_max_attempts: int = 10
    login_window_s: float = 300.0
    login_max_lockout_s: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> CodecLimits:
        # Each limit is the setting CODEC_SERVER_<LIMIT>.
        return cls(**{limit.name: getattr(settings, f"codec_server_{limit.name}") for limit in fields(cls)})


class UndecodablePayload(Exception):
    """A payload this server cannot decode because of what it is (the caller's error: 422)."""


class AnswerTooLarge(Exception):
    """The decoded payloads would pass CODEC_SERVER_MAX_RESPONSE_BYTES (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the decoded payloads pass {limit} bytes (CODEC_SERVER_MAX_RESPONSE_BYTES); "
            "ask for fewer payloads at once"
        )


def is_store_reference(payload: Payload) -> bool:
    """A payload-store reference, plain or (with PAYLOAD_KEYS) encrypted and marked as one."""
    return _has_reference_marker(payload) or _is_reference_payload(payload)


class ProductPayloadCodec(PayloadCodec):
    """The product's payload pipeline, payload to payload. Decoding takes the steps of the SDK's
    `DataConverter.decode` without its last one (conversion to Python values): decrypt a stored
    payload's reference, read the content from the store, decrypt the content. Encoding only
    encrypts: what the Web UI sends (a signal, an update) is small enough to stay inline.

    The steps are the SDK's own (private in temporalio 1.35, pinned in pyproject.toml);
    tests/security/test_codec_server_store.py decodes a real run's stored payloads through them."""

    def __init__(self, converter: DataConverter) -> None:
        self._converter = converter

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self._converter._encode_payload_sequence(payloads)

    async def decode(self, payloads: Sequence[Payload], *, max_bytes: int | None = None) -> list[Payload]:
        """With `max_bytes`, references are read one at a time and reading stops (`AnswerTooLarge`)
        once their contents pass it: the limit bounds memory, not only the answer."""
        converter = self._converter
        storage = converter.external_storage
        if storage is None and any(is_store_reference(p) for p in payloads):
            raise UndecodablePayload(
                "a payload-store reference, but this server reads no store (PAYLOAD_STORE=off)"
            )
        try:
            references = await converter._decode_reference_payload_sequence(payloads)
        except RuntimeError as error:  # the SDK's "reference that could not be decoded" (TMPRL1106)
            raise UndecodablePayload(str(error)) from None
        if storage is not None:
            known = {driver.name() for driver in storage.drivers}
            for reference in references:
                parsed = storage._decode_reference(reference)
                if parsed is not None and parsed.driver_name not in known:
                    raise UndecodablePayload(
                        f"a payload-store reference of driver {parsed.driver_name!r}; this server "
                        f"reads {', '.join(sorted(map(repr, known)))}"
                    )
        if max_bytes is None:
            contents = await converter._external_retrieve_payload_sequence(references)
        else:
            contents, size = [], 0
            for reference in references:
                [content] = await converter._external_retrieve_payload_sequence([reference])
                size += content.ByteSize()
                if size > max_bytes:
                    raise AnswerTooLarge(max_bytes)
                contents.append(content)
        return await converter._decode_payload_sequence(contents)


class OriginPolicy:
    """CORS for an exact list of origins. Unlike a permissive middleware, a foreign origin gets no
    `Access-Control-*` header at all, and its preflight is refused."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]):
        self.app = app
        self.allowed = normalize_origins(allowed_origins)

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


class BrowserSessions:
    """Browser sign-ins: a random id per sign-in (the cookie), remembered with its expiry. Kept by
    SHA-256 of the id, so the table itself holds no usable credential. In memory: a restart signs
    every browser out, and each codec-server process knows only its own sign-ins."""

    def __init__(self, max_age_s: float, clock: Clock) -> None:
        self.max_age_s = max_age_s
        self._clock = clock
        self._expiry: dict[str, float] = {}

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def issue(self) -> str:
        now = self._clock()
        for key in [key for key, expiry in self._expiry.items() if expiry <= now]:
            del self._expiry[key]
        while len(self._expiry) >= MAX_BROWSER_SESSIONS:
            del self._expiry[next(iter(self._expiry))]  # the oldest sign-in
        session_id = secrets.token_urlsafe(32)
        self._expiry[self._key(session_id)] = now + self.max_age_s
        return session_id

    def valid(self, session_id: str) -> bool:
        key = self._key(session_id)
        expiry = self._expiry.get(key)
        if expiry is not None and self._clock() >= expiry:
            del self._expiry[key]
            expiry = None
        return expiry is not None

    def revoke(self, session_id: str) -> None:
        self._expiry.pop(self._key(session_id), None)

    def revoke_all(self) -> int:
        count = len(self._expiry)
        self._expiry.clear()
        return count


class Access:
    """Who may call /encode and /decode: a caller with `Authorization: Bearer <token>` (the CLI, an
    SSO proxy), or a browser that signed in at /login (a session cookie) and calls from an allowed
    origin: the Web UI with "Include cross-origin credentials" on."""

    def __init__(self, token: str, allowed_origins: Iterable[str], sessions: BrowserSessions):
        self.token = token
        self.origins = normalize_origins(allowed_origins)
        # The cookie is a random id, not the token or anything derived from it: it cannot be replayed
        # as a bearer token, and it dies with its session (expiry, sign-out, revocation).
        self.sessions = sessions

    def token_matches(self, presented: str) -> bool:
        # Constant-time comparison: response timing does not reveal how much of a guess was right.
        return hmac.compare_digest(presented.strip().encode(), self.token.encode())

    def bearer(self, request: Request) -> bool:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(presented)

    def signed_in(self, request: Request) -> bool:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and self.sessions.valid(cookie)

    def authorized(self, request: Request) -> bool:
        if self.bearer(request):
            return True
        # Cookies ride along with any same-site request; only the allowed origins may use them.
        return request.headers.get("origin") in self.origins and self.signed_in(request)


def normalize_origins(origins: Iterable[str]) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/") for o in origins if o.strip())


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None once it passes MAX_BODY_BYTES (stops reading there: no unbounded buffer)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _bounded_decode(codec: PayloadCodec, limits: CodecLimits) -> CodecCall:
    """`/decode`: a bounded number of store references in, a bounded number of bytes out."""

    async def decode(payloads: Sequence[Payload]) -> list[Payload]:
        references = sum(1 for payload in payloads if is_store_reference(payload))
        if references > limits.max_references:
            raise TooManyReferences(
                f"the request names {references} payload-store references; at most "
                f"{limits.max_references} per request (CODEC_SERVER_MAX_REFERENCES)"
            )
        if isinstance(codec, ProductPayloadCodec):
            result = await codec.decode(payloads, max_bytes=limits.max_response_bytes)
        else:
            result = await codec.decode(payloads)
        if sum(payload.ByteSize() for payload in result) > limits.max_response_bytes:
            raise AnswerTooLarge(limits.max_response_bytes)
        return result

    return decode


class TooManyReferences(Exception):
    """More store references in one /decode request than CODEC_SERVER_MAX_REFERENCES (413)."""


def _endpoint(call: CodecCall, access: Access) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        if not access.authorized(request):
            return JSONResponse(
                {"error": "missing or wrong bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        body = await _read_capped(request)
        if body is None:
            return _error(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, json.JSONDecodeError, UnicodeDecodeError) as error:
            return _error(400, f'expected {{"payloads": [...]}} in protobuf JSON: {error}')
        try:
            result = await call(payloads.payloads)
        except (TooManyReferences, AnswerTooLarge) as error:
            return _error(413, str(error))
        except (PayloadDecryptionError, PayloadStoreError, UndecodablePayload) as error:
            return _error(422, str(error))
        return Response(json_format.MessageToJson(Payloads(payloads=result)), media_type="application/json")

    return handle


async def _health(_: Request) -> Response:
    return PlainTextResponse("ok")


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Codec server sign-in</title></head>
<body style="font-family: sans-serif; max-width: 34em; margin: 3em auto">
<h1>Codec server</h1>
<p>{message}</p>
<form method="post" action="/login">
<label>Token <input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
<p>Then, in the Temporal Web UI (Settings, Codec Server), set this server's URL and turn on
<em>Include cross-origin credentials</em>.</p>
</body></html>
"""


def _locked_out(retry_after_s: float) -> Response:
    message = (
        f"Too many sign-in attempts from your network address. Try again in {format_wait(retry_after_s)}; "
        "until then no token is checked."
    )
    return HTMLResponse(
        LOGIN_PAGE.format(message=message),
        status_code=429,
        headers={"retry-after": str(math.ceil(retry_after_s))},
    )


def _login_routes(access: Access, attempts: AttemptLimiter) -> list[Route]:
    async def page(request: Request) -> Response:
        message = (
            "Signed in: the Web UI can now decode payloads."
            if access.signed_in(request)
            else "Sign in with the codec server token."
        )
        return HTMLResponse(LOGIN_PAGE.format(message=message))

    async def submit(request: Request) -> Response:
        form = await request.form()
        # The TCP peer as uvicorn reports it (X-Forwarded-For only from FORWARDED_ALLOW_IPS).
        address = request.client.host if request.client else "unknown"
        wait = attempts.attempt(address)
        if wait:
            log.warning("codec server sign-in locked out for %s (%.0f s left)", address, wait)
            return _locked_out(wait)
        presented = form.get("token")
        if not isinstance(presented, str) or not access.token_matches(presented):
            log.info("codec server sign-in refused from %s", address)
            return HTMLResponse(LOGIN_PAGE.format(message="Wrong token."), status_code=401)
        attempts.give_back(address)
        response = RedirectResponse("/login", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            access.sessions.issue(),
            max_age=int(access.sessions.max_age_s),
            httponly=True,
            samesite="strict",  # the Web UI and the codec server are one site (same host or domain)
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        # No token needed: ending the session of the cookie presented can only sign that browser out.
        access.sessions.revoke(request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return response

    async def revoke_all(request: Request) -> Response:
        if not access.bearer(request):  # an operator's call: never with a browser cookie
            return _error(401, "missing or wrong bearer token")
        revoked = access.sessions.revoke_all()
        log.warning("codec server: every browser session revoked (%d)", revoked)
        return JSONResponse({"revoked": revoked})

    return [
        Route("/login", page, methods=["GET"]),
        Route("/login", submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/sessions", revoke_all, methods=["DELETE"]),
    ]


def build_app(
    codec: PayloadCodec,
    token: str,
    allowed_origins: Iterable[str],
    *,
    limits: CodecLimits = CodecLimits(),
    clock: Clock = time.time,
) -> ASGIApp:
    if not token:
        raise ValueError("the codec server needs a token")
    access = Access(token, allowed_origins, BrowserSessions(limits.session_max_age_s, clock))
    attempts = AttemptLimiter(
        limits.login_max_attempts, limits.login_window_s, limits.login_max_lockout_s, clock
    )
    app = Starlette(
        routes=[
            Route("/encode", _endpoint(codec.encode, access), methods=["POST"]),
            Route("/decode", _endpoint(_bounded_decode(codec, limits), access), methods=["POST"]),
            Route("/health", _health, methods=["GET"]),
            *_login_routes(access, attempts),
        ]
    )
    return OriginPolicy(app, allowed_origins)


def app_from_settings(settings: Settings) -> ASGIApp:
    """The app for these settings (the workers' keys and payload store); `ValueError` naming the
    variable when one is missing."""
    keys = settings.payload_keys.get_secret_value().strip() if settings.payload_keys else ""
    if not keys and settings.payload_store == "off":
        raise ValueError(
            "PAYLOAD_KEYS: required when PAYLOAD_STORE=off (with neither, history holds every payload "
            "in plain text and there is nothing to decode)"
        )
    token = settings.codec_server_token.get_secret_value() if settings.codec_server_token else ""
    if not token.strip():
        raise ValueError("CODEC_SERVER_TOKEN: required, callers authenticate with it")
    origins = settings.codec_server_allowed_origins.split(",")
    limits = CodecLimits.from_settings(settings)
    return build_app(
        ProductPayloadCodec(build_data_converter(settings)), token.strip(), origins, limits=limits
    )


def main() -> int:
    import uvicorn

    built = configured_app(app_from_settings, ValueError)
    if built is None:
        return 2
    settings, app = built
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
