"""The payload store the settings name (`PAYLOAD_STORE`): one factory for workers, starters, the codec
server and the retention sweep, and the start-up check that turns a wrong bucket or credentials into
one line before any workflow task runs."""

from __future__ import annotations

import functools
from pathlib import Path

from common.payload_store import LocalObjectStore, SweepableStore
from common.settings import Settings

__all__ = ["check_payload_store", "object_store_from_settings"]


def object_store_from_settings(settings: Settings) -> SweepableStore | None:
    """The store for `settings`, None with `PAYLOAD_STORE=off`. One instance per place and process."""
    if settings.payload_store == "off":
        return None
    if settings.payload_store == "s3":
        assert settings.payload_store_s3_bucket is not None  # the settings validator requires it
        prefix = settings.payload_store_s3_prefix.strip().lstrip("/")
        return _bucket_store(
            settings.payload_store_s3_bucket.strip(),
            prefix if not prefix or prefix.endswith("/") else prefix + "/",  # "a/b" means the folder a/b/
            settings.aws_endpoint_url or None,
            settings.aws_region or None,
        )
    return _local_store(settings.payload_store_dir.resolve())


@functools.lru_cache(maxsize=16)
def _local_store(directory: Path) -> SweepableStore:
    return LocalObjectStore(directory)


@functools.lru_cache(maxsize=16)
def _bucket_store(bucket: str, prefix: str, endpoint_url: str | None, region: str | None) -> SweepableStore:
    from common.payload_s3 import BucketObjectStore  # aioboto3 only when the store is a bucket

    return BucketObjectStore(bucket, prefix, endpoint_url=endpoint_url, region=region)


async def check_payload_store(settings: Settings) -> None:
    """Raises `PayloadStoreError` (one line naming the store and the cause) unless this process can
    write and read the configured store."""
    store = object_store_from_settings(settings)
    if store is not None:
        await store.check()
