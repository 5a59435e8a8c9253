"""The codec server resolves payload-store references for the Web UI with the store in a bucket too:
a real run's stored model request decodes to its content, and a bucket without the object is a 422."""

from __future__ import annotations

from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from activities.llm.models import LLMRequest
from common.settings import Settings
from tests.security.test_codec_server_store import GOAL, TOKEN, last_stored_request, post_decode
from tests.storage.s3_server import S3Server


async def test_the_codec_server_reads_stored_payloads_from_the_bucket(
    dev_client: Client, s3_settings: Settings, s3_server: S3Server, task_queue: str
) -> None:
    settings = s3_settings.model_copy(
        update={"payload_store_threshold_bytes": 2000, "codec_server_token": SecretStr(TOKEN)}
    )
    reference = await last_stored_request(dev_client, settings, task_queue)

    response = await post_decode(settings, reference)
    assert response.status_code == 200, response.text
    [decoded] = json_format.Parse(response.text, Payloads()).payloads
    request = LLMRequest.model_validate_json(decoded.data)
    assert request.messages[0].content[0].text == GOAL  # type: ignore[union-attr]

    other_bucket = settings.model_copy(update={"payload_store_s3_bucket": s3_server.new_bucket()})
    response = await post_decode(other_bucket, reference)
    assert response.status_code == 422 and "missing" in response.json()["error"]
