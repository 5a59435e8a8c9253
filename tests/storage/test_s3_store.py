"""PAYLOAD_STORE=s3 against a real S3-compatible server (moto's, on 127.0.0.1): the same
content-addressed objects in a bucket, a new process reads them back, and the start-up check turns
a missing bucket or an unreachable endpoint into one line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.converter import (
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)

from common.devserver import wait_for_port
from common.payload_s3 import BucketObjectStore
from common.payload_store import ContentAddressedDriver, PayloadStoreError
from common.payload_store_config import check_payload_store, object_store_from_settings
from common.settings import Settings
from tests.chaos.processes import free_port
from tests.storage.s3_server import CREDENTIALS, S3Server
from tests.storage.test_payload_store import json_payload, transcript

FOR_WORKFLOW = StorageDriverStoreContext(
    target=StorageDriverWorkflowInfo(namespace="default", id="agent/1", type="AgentWorkflow")
)


def bucket_store(settings: Settings) -> BucketObjectStore:
    assert settings.payload_store_s3_bucket and settings.aws_endpoint_url
    return BucketObjectStore(
        settings.payload_store_s3_bucket,
        settings.payload_store_s3_prefix,
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
    )


async def test_the_driver_on_a_real_bucket(s3_settings: Settings, s3_server: S3Server) -> None:
    store = bucket_store(s3_settings)
    await check_payload_store(s3_settings)
    driver = ContentAddressedDriver(store)
    payload = json_payload(transcript(12))
    [claim] = await driver.store(FOR_WORKFLOW, [payload])
    names = [item.name for item in await store.list_objects()]
    assert names and all(name.startswith("wf/agent%2F1/") for name in names)
    assert await store.scopes() == ["agent%2F1"]
    fresh = ContentAddressedDriver(bucket_store(s3_settings))  # another process: no cache
    assert await fresh.retrieve(StorageDriverRetrieveContext(), [claim]) == [payload]
    # A growing transcript adds its new messages only, as with the local store.
    before = driver.counters.object_bytes_written
    await driver.store(FOR_WORKFLOW, [json_payload(transcript(13))])
    assert driver.counters.object_bytes_written - before < 8_000
    await store.delete(names)
    with pytest.raises(PayloadStoreError, match="missing"):
        await ContentAddressedDriver(bucket_store(s3_settings)).retrieve(
            StorageDriverRetrieveContext(), [claim]
        )
    await store.aclose()


async def test_the_settings_factory_builds_the_bucket_store(s3_settings: Settings) -> None:
    store = object_store_from_settings(s3_settings)
    assert isinstance(store, BucketObjectStore) and store.bucket == s3_settings.payload_store_s3_bucket
    assert object_store_from_settings(s3_settings) is store  # one per process: one object cache
    unslashed = s3_settings.model_copy(update={"payload_store_s3_prefix": "/team/payloads"})
    other = object_store_from_settings(unslashed)
    assert isinstance(other, BucketObjectStore) and other.prefix == "team/payloads/"


async def test_a_missing_bucket_is_one_line_at_the_check(s3_settings: Settings) -> None:
    missing = s3_settings.model_copy(update={"payload_store_s3_bucket": "no-such-bucket-here"})
    with pytest.raises(PayloadStoreError, match="bucket does not exist") as caught:
        await check_payload_store(missing)
    assert "\n" not in str(caught.value)


async def test_an_unreachable_endpoint_is_one_line_at_the_check(s3_settings: Settings) -> None:
    nowhere = s3_settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})
    with pytest.raises(PayloadStoreError, match="unreachable") as caught:
        await check_payload_store(nowhere)
    assert "\n" not in str(caught.value)


def test_the_worker_refuses_to_start_on_a_missing_bucket(s3_server: S3Server, tmp_path: Path) -> None:
    env = {
        **os.environ,
        **CREDENTIALS,
        "PAYLOAD_STORE": "s3",
        "PAYLOAD_STORE_S3_BUCKET": "no-such-bucket-here",
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
        "TEMPORAL_ADDRESS": "127.0.0.1:9",  # never reached: the store is checked first
        "LLM_PROVIDER": "offline",
        "WORKER_LEASE_DIR": str(tmp_path / "leases"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "no-such-bucket-here" in errors[0] and "does not exist" in errors[0], (
        done.stderr
    )


async def test_refused_credentials_are_one_line_at_the_check(s3_settings: Settings) -> None:
    """moto's server with authentication on (INITIAL_NO_AUTH_ACTION_COUNT=0): unknown keys get 403."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
        strict = s3_settings.model_copy(update={"aws_endpoint_url": f"http://127.0.0.1:{port}"})
        with pytest.raises(
            PayloadStoreError, match=r"access denied \(403\): check the AWS credentials"
        ) as caught:
            await check_payload_store(strict)
        assert "\n" not in str(caught.value)
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=10)
