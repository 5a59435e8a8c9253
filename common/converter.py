"""The data converter every client and worker uses: pydantic JSON, plus payload encryption when
`PAYLOAD_KEYS` is set, plus external storage of big payloads (`PAYLOAD_STORE`, on by default)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    ExternalStorage,
)
from temporalio.exceptions import ApplicationError

from common.settings import Settings

INVALID_INPUT = "InvalidInput"


class ValidatingPayloadConverter(PydanticPayloadConverter):
    """Pydantic JSON, where a payload that does not fit its model raises a one-line, non-retryable
    `InvalidInput` instead of pydantic's multi-line ValidationError. For a workflow's input (say, JSON
    from `temporal workflow start`) that fails the run at once with a message the Web UI shows on one
    line, instead of a workflow-task retry loop; input values are not echoed (they may be secrets)."""

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[type] | None = None) -> list[Any]:
        try:
            return super().from_payloads(payloads, type_hints)
        except ValidationError as error:
            raise invalid_input(error) from None


def invalid_input(error: ValidationError, limit: int = 3) -> ApplicationError:
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'input'}: {item['msg'].removeprefix('Value error, ')}"
        for item in error.errors()[:limit]
    ]
    more = f" (and {error.error_count() - limit} more)" if error.error_count() > limit else ""
    return ApplicationError(
        f"invalid {error.title}: {'; '.join(problems)}{more}", type=INVALID_INPUT, non_retryable=True
    )


product_data_converter = DataConverter(payload_converter_class=ValidatingPayloadConverter)


def build_data_converter(settings: Settings) -> DataConverter:
    if settings.payload_keys is None or not settings.payload_keys.get_secret_value().strip():
        converter = product_data_converter
    else:
        converter = encrypted_data_converter(settings.payload_keys.get_secret_value())
    return with_payload_store(converter, settings)


def with_payload_store(converter: DataConverter, settings: Settings) -> DataConverter:
    """Big payloads to the content-addressed store (PAYLOAD_STORE*; docs/benchmarks.md). The SDK
    encodes (encrypts) a payload before it is stored: with PAYLOAD_KEYS the store holds ciphertext
    and history holds only the reference."""
    if settings.payload_store == "off":
        return converter
    storage = local_payload_storage(
        settings.payload_store_dir.resolve(), settings.payload_store_threshold_bytes
    )
    return dataclasses.replace(converter, external_storage=storage)


@functools.lru_cache(maxsize=16)
def local_payload_storage(directory: Path, threshold_bytes: int) -> ExternalStorage:
    """One driver (and object cache) per directory and process, shared by its clients and workers."""
    from common.payload_store import ContentAddressedDriver, LocalObjectStore

    driver = ContentAddressedDriver(LocalObjectStore(directory))
    return ExternalStorage(drivers=[driver], payload_size_threshold=threshold_bytes)


def encrypted_data_converter(payload_keys: str) -> DataConverter:
    """Pydantic JSON sealed with the key ring in `payload_keys` (the `PAYLOAD_KEYS` format).

    Failure messages and stack traces move into the failure's encoded attributes, so the codec
    encrypts them too: an exception that quotes a prompt does not leak it into history."""
    from common.encryption import EncryptionCodec  # imported lazily: only when keys are set

    return dataclasses.replace(
        product_data_converter,
        payload_codec=EncryptionCodec.from_setting(payload_keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
