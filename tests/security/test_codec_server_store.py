"""The codec server shows the Web UI what the payload store holds: a reference in a real run's
history decodes to the stored content, with and without encryption, and a reference whose object
is not in the store is a clear 422, never a wrong payload."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client

from activities.llm.models import LLMRequest
from common.encryption import new_key_entry
from common.settings import Settings
from tests.storage.stored_agent import run_agent, store_worker
from worker.codec_server import app_from_settings

TOKEN = "codec-token-for-store-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GOAL = "codec-store-canary-7f3e"


async def last_stored_request(dev_client: Client, settings: Settings, task_queue: str) -> Payload:
    """A 4-step agent with 2 KB replies on a real worker: its last model request is a reference."""
    async with store_worker(dev_client, settings, reply_bytes=2048) as client:
        history = await run_agent(client, task_queue, 4, goal=GOAL)
    requests = [
        event.activity_task_scheduled_event_attributes.input.payloads[0]
        for event in history.events
        if event.activity_task_scheduled_event_attributes.activity_type.name == "llm.complete"
    ]
    assert requests[-1].external_payloads, "the last request should be in the store"
    return requests[-1]


async def post_decode(settings: Settings, payload: Payload) -> httpx.Response:
    app = app_from_settings(settings)
    body = json_format.MessageToJson(Payloads(payloads=[payload]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        return await http.post("/decode", content=body, headers={**AUTH, "Content-Type": "application/json"})


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_a_stored_payload_decodes_to_its_content(
    dev_client: Client, settings: Settings, task_queue: str, encrypted: bool
) -> None:
    settings = settings.model_copy(
        update={
            "payload_store_threshold_bytes": 2000,
            "payload_keys": SecretStr(new_key_entry("k1")) if encrypted else None,
            "codec_server_token": SecretStr(TOKEN),
        }
    )
    reference = await last_stored_request(dev_client, settings, task_queue)
    assert GOAL.encode() not in reference.SerializeToString()  # history shows only the reference

    response = await post_decode(settings, reference)

    assert response.status_code == 200, response.text
    [decoded] = json_format.Parse(response.text, Payloads()).payloads
    assert decoded.metadata["encoding"] == b"json/plain"
    request = LLMRequest.model_validate_json(decoded.data)
    assert request.messages[0].content[0].text == GOAL  # type: ignore[union-attr]
    assert len(request.messages) == 7  # the goal, then 3 replies and 3 tool results


async def test_a_reference_to_a_missing_object_is_a_clear_422(
    dev_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={"payload_store_threshold_bytes": 2000, "codec_server_token": SecretStr(TOKEN)}
    )
    reference = await last_stored_request(dev_client, settings, task_queue)
    elsewhere = settings.model_copy(update={"payload_store_dir": tmp_path / "another-store"})

    response = await post_decode(elsewhere, reference)

    assert response.status_code == 422
    assert "missing" in response.json()["error"]
