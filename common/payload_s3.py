"""The payload store in an S3-compatible bucket (`PAYLOAD_STORE=s3`): AWS S3, MinIO, Ceph, R2...

Reads and writes go through the SDK's aioboto3 adapter (`temporalio.contrib.aws.s3driver.aioboto3`);
listing and deleting (the retention sweep) use the same aioboto3 client. Credentials come from the
standard AWS chain (environment, shared files, instance or pod role); `AWS_ENDPOINT_URL` points at a
non-AWS server and `AWS_REGION` picks the region.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError
from temporalio.contrib.aws.s3driver.aioboto3 import new_aioboto3_client

from common.payload_store import SCOPES, PayloadStoreError, StoredObject

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client
    from types_aiobotocore_s3.type_defs import ObjectIdentifierTypeDef

__all__ = ["BucketObjectStore"]

_CHECK_OBJECT = ".store-check"


class BucketObjectStore:
    """Objects under `prefix` in `bucket`. One client per event loop (an aiohttp session belongs to
    the loop that opened it), opened on first use and kept for the process's life."""

    def __init__(
        self, bucket: str, prefix: str, *, endpoint_url: str | None = None, region: str | None = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._endpoint_url = endpoint_url
        self._region = region
        self._session = aioboto3.Session()
        self._clients: dict[asyncio.AbstractEventLoop, tuple[S3Client, contextlib.AsyncExitStack]] = {}

    def describe(self) -> str:
        return f"bucket {self.bucket}/{self.prefix} at {self._endpoint_url or 'AWS S3'}"

    async def _client(self) -> S3Client:
        loop = asyncio.get_running_loop()
        opened = self._clients.get(loop)
        if opened is None:
            stack = contextlib.AsyncExitStack()
            config = AioConfig(
                connect_timeout=5,
                read_timeout=30,
                retries={"mode": "standard", "max_attempts": 4},
                max_pool_connections=64,  # a transcript's blocks are fetched concurrently
            )
            client = await stack.enter_async_context(
                self._session.client(
                    "s3", endpoint_url=self._endpoint_url, region_name=self._region, config=config
                )
            )
            opened = self._clients[loop] = (client, stack)
        return opened[0]

    async def aclose(self) -> None:
        """Closes this event loop's client (tests and one-shot commands; workers keep theirs)."""
        opened = self._clients.pop(asyncio.get_running_loop(), None)
        if opened is not None:
            await opened[1].aclose()

    async def exists(self, key: str) -> bool:
        try:
            client = new_aioboto3_client(await self._client())
            return await client.object_exists(bucket=self.bucket, key=self.prefix + key)
        except (ClientError, BotoCoreError) as error:
            raise PayloadStoreError(f"payload store {self.describe()}: {_reason(error)}") from None

    async def put(self, key: str, data: bytes) -> None:
        try:
            client = new_aioboto3_client(await self._client())
            await client.put_object(bucket=self.bucket, key=self.prefix + key, data=data)
        except (ClientError, BotoCoreError) as error:
            raise PayloadStoreError(f"payload store {self.describe()}: {_reason(error)}") from None

    async def get(self, key: str) -> bytes:
        try:
            client = new_aioboto3_client(await self._client())
            return await client.get_object(bucket=self.bucket, key=self.prefix + key)
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                raise PayloadStoreError(f"payload object {key} is missing from {self.describe()}") from None
            raise PayloadStoreError(
                f"payload object {key} unreadable from {self.describe()}: {_reason(error)}"
            ) from None
        except BotoCoreError as error:
            raise PayloadStoreError(
                f"payload object {key} unreadable from {self.describe()}: {error}"
            ) from None

    async def check(self) -> None:
        """Raises `PayloadStoreError` in one line unless the bucket exists and this process may write
        and read in it (what a worker needs): called once at start-up."""
        try:
            client = await self._client()
            await client.head_bucket(Bucket=self.bucket)
            await client.put_object(Bucket=self.bucket, Key=self.prefix + _CHECK_OBJECT, Body=b"ok")
            response = await client.get_object(Bucket=self.bucket, Key=self.prefix + _CHECK_OBJECT)
            await response["Body"].read()
        except ClientError as error:
            raise PayloadStoreError(f"payload store {self.describe()}: {_reason(error)}") from None
        except BotoCoreError as error:
            raise PayloadStoreError(f"payload store {self.describe()} is unreachable: {error}") from None

    async def scopes(self) -> list[str]:
        client = await self._client()
        base = f"{self.prefix}{SCOPES}/"
        found: list[str] = []
        async for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=base, Delimiter="/"
        ):
            found.extend(item["Prefix"][len(base) :].rstrip("/") for item in page.get("CommonPrefixes", []))
        return found

    async def list_objects(self, under: str = "") -> list[StoredObject]:
        client = await self._client()
        found: list[StoredObject] = []
        async for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + under
        ):
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                if name and not name.startswith("."):
                    found.append(StoredObject(name, item["Size"], item["LastModified"].timestamp()))
        return found

    async def delete(self, names: Sequence[str]) -> None:
        client = await self._client()
        for start in range(0, len(names), 1000):  # S3's batch limit
            batch: list[ObjectIdentifierTypeDef] = [
                {"Key": self.prefix + name} for name in names[start : start + 1000]
            ]
            response = await client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise PayloadStoreError(
                    f"payload store {self.describe()}: cannot delete {first.get('Key')}: {first.get('Code')}"
                )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _reason(error: Any) -> str:
    """One line an operator can act on, for the usual start-up mistakes."""
    if isinstance(error, ClientError):
        code = _code(error)
        if code in ("NoSuchBucket", "404"):
            return "the bucket does not exist (create it, or fix PAYLOAD_STORE_S3_BUCKET / AWS_ENDPOINT_URL)"
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"):
            return f"access denied ({code}): check the AWS credentials and the bucket policy"
        return f"{code}: {error.response.get('Error', {}).get('Message', '')}".strip()
    return str(error)
