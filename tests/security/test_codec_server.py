"""The codec server: token authentication, CORS for configured origins only, /encode and /decode in
the Web UI's JSON format. In-process over ASGI, and once as the real `python -m worker.codec_server`."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from temporalio.api.common.v1 import Payload

from common.encryption import EncryptionCodec, new_key_entry
from common.settings import try_load_settings
from tests.security.codec_process import codec_server
from worker.codec_server import app_from_settings, build_app

CANARY = "canary-codec-51d0"
TOKEN = "codec-token-for-tests"
UI = "http://localhost:8233"
FOREIGN = "https://attacker.example"
KEYS = f"{new_key_entry('k1')},{new_key_entry('k2')}"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def ui_payloads(*texts: str) -> dict[str, object]:
    """What the Web UI posts: protobuf JSON of `Payloads`, bytes as base64."""
    return {
        "payloads": [
            {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(f'"{text}"'.encode())}
            for text in texts
        ]
    }


@pytest_asyncio.fixture
async def codec_http() -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(EncryptionCodec.from_setting(KEYS), TOKEN, [UI])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as client:
        yield client


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.mark.parametrize("path", ["/decode", "/encode"])
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN])
async def test_without_the_token_the_answer_is_401(
    codec_http: httpx.AsyncClient, path: str, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    response = await codec_http.post(path, json=ui_payloads(CANARY), headers=headers)
    assert response.status_code == 401
    assert CANARY not in response.text


async def test_encode_then_decode_round_trips_with_the_token(codec_http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    encoded = await codec_http.post("/encode", json=ui_payloads(CANARY, "second"), headers=auth)
    assert encoded.status_code == 200
    sealed = encoded.json()["payloads"]
    assert len(sealed) == 2 and CANARY not in encoded.text
    assert base64.b64decode(sealed[0]["metadata"]["encryption-key-id"]) == b"k2"

    decoded = await codec_http.post("/decode", json={"payloads": sealed}, headers=auth)
    assert decoded.status_code == 200
    assert decoded.json() == ui_payloads(CANARY, "second")


async def test_allowed_origin_gets_cors_headers_and_a_preflight(codec_http: httpx.AsyncClient) -> None:
    preflight = await codec_http.options(
        "/decode",
        headers={
            "Origin": UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-namespace",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == UI
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"]

    response = await codec_http.post(
        "/decode",
        json=ui_payloads("x"),
        headers={"Origin": UI, "Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == UI


async def test_a_foreign_origin_gets_no_cors_headers(codec_http: httpx.AsyncClient) -> None:
    preflight = await codec_http.options(
        "/decode", headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403
    assert cors_headers(preflight) == {}

    # Even a request that carries the token (say, a stolen one replayed from a page) gets no CORS
    # headers, so a browser never lets that page read the decoded payload.
    response = await codec_http.post(
        "/decode", json=ui_payloads("x"), headers={"Origin": FOREIGN, "Authorization": f"Bearer {TOKEN}"}
    )
    assert cors_headers(response) == {}
    unauthorized = await codec_http.post("/decode", json=ui_payloads("x"), headers={"Origin": FOREIGN})
    assert unauthorized.status_code == 401 and cors_headers(unauthorized) == {}


async def test_bad_bodies_and_unknown_keys_are_clear_errors(codec_http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    garbage = await codec_http.post("/decode", content=b"not json", headers=auth)
    assert garbage.status_code == 400 and "payloads" in garbage.json()["error"]

    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    [foreign] = await EncryptionCodec.from_setting(new_key_entry("k9")).encode([plain])
    body = {
        "payloads": [
            {"metadata": {k: b64(v) for k, v in foreign.metadata.items()}, "data": b64(foreign.data)}
        ]
    }
    unknown = await codec_http.post("/decode", json=body, headers=auth)
    assert unknown.status_code == 422 and "'k9'" in unknown.json()["error"]


def test_refuses_to_start_without_a_token_or_anything_to_decode() -> None:
    no_token = try_load_settings(payload_keys=KEYS, llm_provider="offline", _env_file=None)
    with pytest.raises(ValueError, match="CODEC_SERVER_TOKEN"):
        app_from_settings(no_token)
    # Without keys the server still decodes what the payload store holds; with neither, nothing.
    no_keys = try_load_settings(codec_server_token=TOKEN, llm_provider="offline", _env_file=None)
    app_from_settings(no_keys)
    nothing = no_keys.model_copy(update={"payload_store": "off"})
    with pytest.raises(ValueError, match="PAYLOAD_KEYS"):
        app_from_settings(nothing)


def test_the_real_process_serves_decode_with_token_and_cors() -> None:
    with codec_server(KEYS, TOKEN, f"{UI},http://localhost:8080") as server:
        assert httpx.post(f"{server.url}/decode", json=ui_payloads("x")).status_code == 401
        sealed = httpx.post(
            f"{server.url}/encode", json=ui_payloads(CANARY), headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()
        decoded = httpx.post(
            f"{server.url}/decode",
            json=sealed,
            headers={"Authorization": f"Bearer {TOKEN}", "Origin": "http://localhost:8080"},
        )
        assert decoded.json() == ui_payloads(CANARY)
        assert decoded.headers["access-control-allow-origin"] == "http://localhost:8080"
    log = "\n".join(server.log)
    assert "POST /decode" in log  # the capture works: uvicorn's access log is there
    assert TOKEN not in log and KEYS.split(",")[0].split(":")[1] not in log and CANARY not in log


async def test_an_oversized_body_is_refused_without_buffering_it(codec_http: httpx.AsyncClient) -> None:
    from worker.codec_server import MAX_BODY_BYTES

    async def body() -> AsyncIterator[bytes]:
        chunk = b" " * 1_000_000
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk

    response = await codec_http.post("/decode", content=body(), headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 413


async def test_web_ui_session_signs_in_with_the_token_and_works_only_from_allowed_origins(
    codec_http: httpx.AsyncClient,
) -> None:
    refused = await codec_http.post("/login", data={"token": "guess"})
    assert refused.status_code == 401 and "set-cookie" not in refused.headers

    signed_in = await codec_http.post("/login", data={"token": TOKEN})
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    session = signed_in.cookies["codec_session"]
    codec_http.cookies.clear()

    sealed = (
        await codec_http.post(
            "/encode", json=ui_payloads(CANARY), headers={"Authorization": f"Bearer {TOKEN}"}
        )
    ).json()
    from_ui = await codec_http.post(
        "/decode", json=sealed, headers={"Origin": UI, "Cookie": f"codec_session={session}"}
    )
    assert from_ui.status_code == 200 and from_ui.json() == ui_payloads(CANARY)
    assert from_ui.headers["access-control-allow-credentials"] == "true"

    # The cookie alone, from another origin or with no origin at all, opens nothing.
    for headers in ({"Origin": FOREIGN}, {}):
        other = await codec_http.post(
            "/decode", json=sealed, headers={**headers, "Cookie": f"codec_session={session}"}
        )
        assert other.status_code == 401 and CANARY not in other.text
    # Nor does the cookie work as a bearer token, or a forged cookie.
    as_bearer = await codec_http.post("/decode", json=sealed, headers={"Authorization": f"Bearer {session}"})
    forged = await codec_http.post(
        "/decode", json=sealed, headers={"Origin": UI, "Cookie": "codec_session=x"}
    )
    assert as_bearer.status_code == 401 and forged.status_code == 401

    page = await codec_http.get("/login", headers={"Cookie": f"codec_session={session}"})
    assert "Signed in" in page.text
