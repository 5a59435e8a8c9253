"""The data converter every client and worker uses: pydantic JSON, plus payload encryption when
`PAYLOAD_KEYS` is set, plus external storage of big payloads (`PAYLOAD_STORE`, on by default)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    ExternalStorage,
    SerializationContext,
    StorageDriver,
    StorageDriverSelectContext,
    WithSerializationContext,
)
from temporalio.exceptions import ApplicationError

from common.contracts.runs import invalid_input
from common.settings import Settings

if TYPE_CHECKING:
    from common.payload_store import ObjectStore

__all__ = [
    "BoundarySelector",
    "InternalPayloadStorage",
    "ValidatingPayloadConverter",
    "build_data_converter",
    "encrypted_data_converter",
    "invalid_input_of",
    "payload_storage",
    "product_data_converter",
    "storage_for",
    "with_payload_store",
]


class ValidatingPayloadConverter(PydanticPayloadConverter):
    """Pydantic JSON, where a payload that does not fit its model raises a one-line, non-retryable
    `InvalidInput` instead of pydantic's multi-line ValidationError. For a workflow's input (say, JSON
    from `temporal workflow start`) that fails the run at once with a message the Web UI shows on one
    line, instead of a workflow-task retry loop; input values are not echoed (they may be secrets)."""

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[type] | None = None) -> list[Any]:
        try:
            return super().from_payloads(payloads, type_hints)
        except ValidationError as error:
            raise invalid_input_of(error) from None


def invalid_input_of(error: ValidationError, limit: int = 3) -> ApplicationError:
    """`InvalidInput` naming the first problems of `error` (paths and messages, no input values)."""
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'input'}: {item['msg'].removeprefix('Value error, ')}"
        for item in error.errors()[:limit]
    ]
    more = f" (and {error.error_count() - limit} more)" if error.error_count() > limit else ""
    return invalid_input(f"invalid {error.title}: {'; '.join(problems)}{more}")


product_data_converter = DataConverter(payload_converter_class=ValidatingPayloadConverter)


def build_data_converter(settings: Settings) -> DataConverter:
    if settings.payload_keys is None or not settings.payload_keys.get_secret_value().strip():
        converter = product_data_converter
    else:
        converter = encrypted_data_converter(settings.payload_keys.get_secret_value())
    return with_payload_store(converter, settings)


def with_payload_store(converter: DataConverter, settings: Settings) -> DataConverter:
    """Big payloads between a workflow and its activities to the content-addressed store
    (PAYLOAD_STORE*; docs/benchmarks.md). The SDK encodes (encrypts) a payload before it is stored:
    with PAYLOAD_KEYS the store holds ciphertext and history holds only the reference."""
    storage = payload_storage(settings)
    if storage is None:
        return converter
    return dataclasses.replace(converter, external_storage=storage)


def payload_storage(settings: Settings) -> ExternalStorage | None:
    from common.payload_store_config import object_store_from_settings

    store = object_store_from_settings(settings)
    if store is None:
        return None
    key = (id(store), settings.payload_store_threshold_bytes)
    if key not in _storages:
        _storages[key] = (store, storage_for(store, settings.payload_store_threshold_bytes))
    return _storages[key][1]


# One driver (and object cache) per store and process, shared by its clients and workers. The
# factory keeps each store for the process's life, so its id stays its own.
_storages: dict[tuple[int, int], tuple[ObjectStore, ExternalStorage]] = {}


def storage_for(store: ObjectStore, threshold_bytes: int) -> ExternalStorage:
    """A new driver (empty cache) on `store`: what a fresh process has."""
    from common.payload_store import ContentAddressedDriver

    driver = ContentAddressedDriver(store)
    return InternalPayloadStorage(
        drivers=[driver],
        driver_selector=BoundarySelector(driver, internal=False),
        payload_size_threshold=threshold_bytes,
    )


@dataclasses.dataclass(frozen=True)
class BoundarySelector:
    """Which payloads go to the store. Only what passes between a workflow and its activities (the
    transcripts, the model's replies, tool results): a workflow's input and result, Query, Update and
    Signal payloads, memo, and a child workflow's input and result stay inline JSON that every client
    reads (`temporal workflow result`, the Web UI, TypeScript and Go clients without this store).

    The SDK's store target cannot tell these apart: an activity's input and result, a workflow's
    result and a query's answer all target the workflow (tests/storage/test_boundaries.py). The
    serialization context can: the SDK gives the payloads of a scheduled activity, on the workflow's
    side and the activity's, an `ActivitySerializationContext`, and every other payload of a run a
    `WorkflowSerializationContext` (`InternalPayloadStorage.with_context` picks the selector)."""

    driver: StorageDriver
    internal: bool

    def __call__(self, context: StorageDriverSelectContext, payload: Payload) -> StorageDriver | None:
        if self.internal or payload.ByteSize() >= PUBLIC_PAYLOAD_MAX_BYTES:
            return self.driver
        return None


# A public payload this big would break Temporal's 2 MB limit and fail the run: it is stored instead
# (a client without the store then sees a reference, which beats a failed run).
PUBLIC_PAYLOAD_MAX_BYTES = 1_800_000


@dataclasses.dataclass(frozen=True)
class InternalPayloadStorage(ExternalStorage, WithSerializationContext):
    """`ExternalStorage` whose selector follows the serialization context (see `BoundarySelector`)."""

    def with_context(self, context: SerializationContext) -> Self:
        selector = self.driver_selector
        assert isinstance(selector, BoundarySelector)
        internal = isinstance(context, ActivitySerializationContext)
        if selector.internal == internal:
            return self
        return dataclasses.replace(self, driver_selector=BoundarySelector(selector.driver, internal))


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
