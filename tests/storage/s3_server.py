"""A real S3-compatible server for the payload store's tests: moto's server (from PyPI) on
127.0.0.1, one bucket per test, and settings (with AWS credentials in the environment) that use it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from common.settings import Settings

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test-access-key",
    "AWS_SECRET_ACCESS_KEY": "test-secret-key",
    "AWS_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def new_bucket(self) -> str:
        bucket = f"payloads-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=CREDENTIALS["AWS_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def object_bytes(self, bucket: str) -> int:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sum(item["Size"] for page in pages for item in page.get("Contents", []))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_settings(settings: Settings, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings with PAYLOAD_STORE=s3 on a new bucket of the moto server."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return settings.model_copy(
        update={
            "payload_store": "s3",
            "payload_store_s3_bucket": s3_server.new_bucket(),
            "payload_store_s3_prefix": "ai-workflows/payloads/",
            "aws_endpoint_url": s3_server.endpoint_url,
            "aws_region": CREDENTIALS["AWS_REGION"],
        }
    )
