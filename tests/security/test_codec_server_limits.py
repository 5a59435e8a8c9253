"""The codec server under attack: a small /decode request that names many store references (or a few
big ones) cannot make it read and send back gigabytes, a reference to a driver it does not know is
the caller's error (4xx), and a browser's sign-in expires and can be revoked.

Real parts: the product's converter writes the references into a payload store in a temporary
directory, and the app from `app_from_settings` reads them back."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import DataConverter, ExternalStorage

from common.converter import product_data_converter
from common.encryption import EncryptionCodec, new_key_entry
from common.payload_store import DRIVER_NAME, ContentAddressedDriver, LocalObjectStore
from common.settings import Settings, try_load_settings
from worker.codec_server import CodecLimits, app_from_settings, build_app

TOKEN = "codec-token-for-limit-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UI = "http://localhost:8233"
BIG = "x" * 100_000  # one stored payload of ~100 KB behind a ~230-byte reference


def store_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return try_load_settings(
        llm_provider="offline",
        payload_store_dir=tmp_path / "payloads",
        payload_store_threshold_bytes=1024,
        codec_server_token=TOKEN,
        _env_file=None,
        **overrides,
    )


def writer(directory: Path, name: str = DRIVER_NAME) -> DataConverter:
    """What a worker does with a big activity payload: store it, keep the reference."""
    driver = ContentAddressedDriver(LocalObjectStore(directory.resolve()), name=name)
    storage = ExternalStorage(drivers=[driver], payload_size_threshold=1024)
    return dataclasses.replace(product_data_converter, external_storage=storage)


async def stored_reference(settings: Settings, value: str = BIG) -> Payload:
    [reference] = await writer(settings.payload_store_dir).encode([value])
    assert reference.external_payloads, "the value should be in the store"
    return reference


def body(payloads: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


@pytest_asyncio.fixture
async def http_for(tmp_path: Path) -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(settings: Settings) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app_from_settings(settings))
        client = httpx.AsyncClient(transport=transport, base_url="http://codec")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_one_request_resolves_a_bounded_number_of_references(tmp_path: Path, http_for: Any) -> None:
    settings = store_settings(tmp_path)  # the default limit
    reference = await stored_reference(settings)
    http = http_for(settings)

    within = await http.post("/decode", content=body([reference] * 32), headers=AUTH)
    assert within.status_code == 200
    [first, *_] = json_format.Parse(within.text, Payloads()).payloads
    assert BIG.encode() in first.data

    # 33 references in 8 KB of request would be 3.3 MB of answer; 400 would be 40 MB.
    refused = await http.post("/decode", content=body([reference] * 33), headers=AUTH)
    assert refused.status_code == 413
    assert refused.json()["error"] == (
        "the request names 33 payload-store references; at most 32 per request (CODEC_SERVER_MAX_REFERENCES)"
    )


async def test_an_answer_over_the_size_limit_is_refused(tmp_path: Path, http_for: Any) -> None:
    settings = store_settings(tmp_path, codec_server_max_response_bytes=250_000)
    reference = await stored_reference(settings)
    http = http_for(settings)

    assert (await http.post("/decode", content=body([reference] * 2), headers=AUTH)).status_code == 200
    refused = await http.post("/decode", content=body([reference] * 3), headers=AUTH)
    assert refused.status_code == 413
    assert "CODEC_SERVER_MAX_RESPONSE_BYTES" in refused.json()["error"]
    assert BIG not in refused.text


async def test_a_generic_codec_answer_is_bounded_too() -> None:
    """Inline payloads (no store) are bounded by the request size, and the answer by the limit."""
    codec = EncryptionCodec.from_setting(new_key_entry("k1"))
    app = build_app(codec, TOKEN, [UI], limits=CodecLimits(max_response_bytes=50_000))
    [sealed] = await codec.encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=b'"' + b"y" * 60_000 + b'"')]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        refused = await http.post("/decode", content=body([sealed]), headers=AUTH)
    assert refused.status_code == 413 and "CODEC_SERVER_MAX_RESPONSE_BYTES" in refused.json()["error"]


async def test_a_reference_to_an_unknown_driver_is_a_4xx(tmp_path: Path, http_for: Any) -> None:
    settings = store_settings(tmp_path)
    foreign = writer(settings.payload_store_dir, name="someone-elses.driver")
    [reference] = await foreign.encode(["stored by a driver this server does not have" * 100])
    http = http_for(settings)

    response = await http.post("/decode", content=body([reference]), headers=AUTH)

    assert response.status_code == 422
    assert "'someone-elses.driver'" in response.json()["error"]


async def test_a_reference_without_a_store_is_a_4xx(tmp_path: Path, http_for: Any) -> None:
    reference = await stored_reference(store_settings(tmp_path))
    keys_only = store_settings(tmp_path, payload_store="off", payload_keys=new_key_entry("k1"))

    response = await http_for(keys_only).post("/decode", content=body([reference]), headers=AUTH)

    assert response.status_code == 422
    assert "PAYLOAD_STORE" in response.json()["error"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def signed_in_cookie(http: httpx.AsyncClient) -> str:
    response = await http.post("/login", data={"token": TOKEN})
    assert response.status_code == 303
    cookie = response.cookies["codec_session"]
    http.cookies.clear()
    return cookie


async def decode_from_ui(http: httpx.AsyncClient, cookie: str) -> httpx.Response:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    return await http.post(
        "/decode", content=body([plain]), headers={"Origin": UI, "Cookie": f"codec_session={cookie}"}
    )


@pytest_asyncio.fixture
async def session_app() -> AsyncIterator[tuple[httpx.AsyncClient, Clock]]:
    clock = Clock()
    app = build_app(
        EncryptionCodec.from_setting(new_key_entry("k1")),
        TOKEN,
        [UI],
        limits=CodecLimits(session_max_age_s=3600),
        clock=clock,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        yield http, clock


async def test_a_browser_session_expires(session_app: tuple[httpx.AsyncClient, Clock]) -> None:
    http, clock = session_app
    cookie = await signed_in_cookie(http)
    clock.now += 3599
    assert (await decode_from_ui(http, cookie)).status_code == 200
    clock.now += 2
    expired = await decode_from_ui(http, cookie)
    assert expired.status_code == 401
    page = await http.get("/login", headers={"Cookie": f"codec_session={cookie}"})
    assert "Signed in" not in page.text


async def test_sign_out_revokes_the_cookie_even_when_replayed(
    session_app: tuple[httpx.AsyncClient, Clock],
) -> None:
    http, _ = session_app
    cookie, other = await signed_in_cookie(http), await signed_in_cookie(http)
    assert cookie != other  # one random credential per sign-in, not a value derived from the token
    signed_out = await http.post("/logout", headers={"Cookie": f"codec_session={cookie}"})
    assert signed_out.status_code == 303
    assert "codec_session=" in signed_out.headers["set-cookie"]  # the browser drops it
    assert (await decode_from_ui(http, cookie)).status_code == 401  # a copy of it is dead too
    assert (await decode_from_ui(http, other)).status_code == 200  # other sessions live on


async def test_an_operator_revokes_every_browser_session(
    session_app: tuple[httpx.AsyncClient, Clock],
) -> None:
    http, _ = session_app
    cookies = [await signed_in_cookie(http) for _ in range(3)]
    assert (await http.delete("/sessions")).status_code == 401  # only with the token
    assert (
        await http.delete("/sessions", headers={"Cookie": f"codec_session={cookies[0]}"})
    ).status_code == 401
    revoked = await http.delete("/sessions", headers=AUTH)
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 3}
    for cookie in cookies:
        assert (await decode_from_ui(http, cookie)).status_code == 401
