"""The data converter every client and worker uses: pydantic JSON, plus payload encryption when
`PAYLOAD_KEYS` is set, plus external storage of big payloads (`PAYLOAD_STORE`, on by default)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ValidationError
from temporalio import workflow
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
    StorageDriverStoreContext,
    WithSerializationContext,
)
from temporalio.exceptions import ApplicationError

from common.contracts.runs import invalid_input
from common.message_decode import transcript_from_json
from common.message_json import transcript_json
from common.settings import Settings

if TYPE_CHECKING:
    from common.encryption import EncryptionCodec
    from common.payload_store import ObjectStore

__all__ = [
    "JSON_ENCODING",
    "BoundarySelector",
    "InternalPayloadStorage",
    "ProductDataConverter",
    "ValidatingPayloadConverter",
    "build_data_converter",
    "encrypted_data_converter",
    "invalid_input_of",
    "payload_codec",
    "payload_storage",
    "product_data_converter",
    "storage_for",
    "with_payload_store",
]


# The encoding of the product's JSON payloads (`ValidatingPayloadConverter`).
JSON_ENCODING = b"json/plain"


class ValidatingPayloadConverter(PydanticPayloadConverter):
    """Pydantic JSON, where a payload that does not fit its model raises a one-line, non-retryable
    `InvalidInput` instead of pydantic's multi-line ValidationError. For a workflow's input (say, JSON
    from `temporal workflow start`) that fails the run at once with a message the Web UI shows on one
    line, instead of a workflow-task retry loop; input values are not echoed (they may be secrets)."""

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        """Pydantic JSON, where a transcript's messages are serialised once each while they live
        (common/message_json.py): the same bytes, without the per-step cost of a growing transcript."""
        payloads = []
        for value in values:
            data = transcript_json(value)
            if data is None:
                payloads += super().to_payloads([value])
            else:
                payloads.append(Payload(metadata={"encoding": b"json/plain"}, data=data))
        return payloads

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[type] | None = None) -> list[Any]:
        """Pydantic JSON, where outside a workflow a transcript's messages read from the same bytes
        before are taken as they were (common/message_decode.py): an activity's worker decodes only
        the new messages of a model call that carries the whole transcript."""
        try:
            # A workflow activation decodes its jobs' payloads before its event loop runs, where
            # `in_workflow()` is still False: the sandbox's flag is set by then.
            in_workflow = workflow.in_workflow() or workflow.unsafe.in_sandbox()
            if type_hints is None or len(type_hints) != len(payloads) or in_workflow:
                return super().from_payloads(payloads, type_hints)
            return [
                self._from_payload(payload, hint) for payload, hint in zip(payloads, type_hints, strict=True)
            ]
        except ValidationError as error:
            raise invalid_input_of(error) from None

    def _from_payload(self, payload: Payload, hint: type) -> Any:
        if (
            isinstance(hint, type)
            and issubclass(hint, BaseModel)
            and payload.metadata.get("encoding") == JSON_ENCODING
            and (value := transcript_from_json(payload.data, hint)) is not None
        ):
            return value
        return super().from_payloads([payload], [hint])[0]


def invalid_input_of(error: ValidationError, limit: int = 3) -> ApplicationError:
    """`InvalidInput` naming the first problems of `error` (paths and messages, no input values)."""
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'input'}: {item['msg'].removeprefix('Value error, ')}"
        for item in error.errors()[:limit]
    ]
    more = f" (and {error.error_count() - limit} more)" if error.error_count() > limit else ""
    return invalid_input(f"invalid {error.title}: {'; '.join(problems)}{more}")


_RECENT_CONTEXTS = 512


@dataclasses.dataclass(frozen=True)
class ProductDataConverter(DataConverter):
    """`DataConverter` whose copies per serialization or store context are kept or shallow. The SDK's
    worker asks for such a copy for every payload it visits in a workflow activation and completion;
    its own copy (`dataclasses.replace`) builds a new pydantic payload converter each time, the
    largest part of what the payload store added per payload (docs/benchmarks.md, "Performance at
    parity"). The parts are immutable, so copies share them."""

    _copies: dict[tuple[int, ...], Self] = dataclasses.field(init=False, repr=False, compare=False)
    # The answer per recent context: the worker asks again for the same activity's context in each
    # of its payload passes (codec, store, references), and the parts' answers are pure.
    _by_context: dict[SerializationContext, Self] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_copies", {})
        object.__setattr__(self, "_by_context", {})

    def with_context(self, context: SerializationContext) -> Self:
        try:
            known = self._by_context.get(context)
        except TypeError:  # a context type of someone else's that cannot be hashed
            return self._variant_for(context)
        if known is None:
            if len(self._by_context) >= _RECENT_CONTEXTS:
                self._by_context.clear()  # bounded; a miss only costs the look-up below
            known = self._by_context[context] = self._variant_for(context)
        return known

    def _variant_for(self, context: SerializationContext) -> Self:
        parts = {
            name: part.with_context(context) if isinstance(part, WithSerializationContext) else part
            for name in ("payload_converter", "payload_codec", "failure_converter", "external_storage")
            if (part := getattr(self, name)) is not None
        }
        # The parts answer with themselves or with one kept variant (the store's two selectors), so
        # the copies are few: one per combination, kept (each holds its parts, so ids stay theirs).
        key = tuple(id(part) for part in parts.values())
        if (known := self._copies.get(key)) is None:
            known = self._copy_with({k: v for k, v in parts.items() if v is not getattr(self, k)})
            if len(self._copies) < 16:  # a part that made new objects per context is not kept
                self._copies[key] = known
        return known

    def _with_store_context(self, store_ctx: StorageDriverStoreContext) -> DataConverter:
        if self.external_storage is None:
            return self
        return self._copy_with({"external_storage": self.external_storage._with_store_context(store_ctx)})

    def _copy_with(self, parts: dict[str, Any]) -> Self:
        if not parts:
            return self
        return _shallow_copy(self, {**parts, "_copies": {}, "_by_context": {}})


def _shallow_copy(instance: Any, changes: dict[str, Any]) -> Any:
    """`instance` (a frozen dataclass) with `changes`, without running its `__init__` (ten times
    faster than `copy.copy`, which goes through pickling's protocol)."""
    cloned = object.__new__(type(instance))
    cloned.__dict__.update(instance.__dict__, **changes)
    return cloned


product_data_converter: DataConverter = ProductDataConverter(
    payload_converter_class=ValidatingPayloadConverter
)


def build_data_converter(settings: Settings) -> DataConverter:
    codec = payload_codec(settings)
    converter = product_data_converter if codec is None else _encrypted_with(codec)
    return with_payload_store(converter, settings)


def payload_codec(settings: Settings) -> EncryptionCodec | None:
    """The codec `PAYLOAD_KEYS` sets, None when it is unset or blank: what this worker's payloads
    (and the run state it keeps apart, activities/run_state.py) are encrypted with."""
    keys = settings.payload_keys.get_secret_value().strip() if settings.payload_keys else ""
    if not keys:
        return None
    from common.encryption import EncryptionCodec  # imported lazily: only when keys are set

    return EncryptionCodec.from_setting(keys)


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
    """`ExternalStorage` whose selector follows the serialization context (see `BoundarySelector`).
    Each instance keeps its one variant with the other selector, so that asking for it per payload
    (the SDK does) builds nothing."""

    _other: dict[bool, Self] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_other", {})

    def with_context(self, context: SerializationContext) -> Self:
        selector = self.driver_selector
        assert isinstance(selector, BoundarySelector)
        internal = isinstance(context, ActivitySerializationContext)
        if selector.internal == internal:
            return self
        if internal not in self._other:
            variant = dataclasses.replace(self, driver_selector=BoundarySelector(selector.driver, internal))
            variant._other[selector.internal] = self
            self._other[internal] = variant
        return self._other[internal]

    def _with_store_context(self, ctx: StorageDriverStoreContext) -> ExternalStorage:
        # As the SDK's copy, without rebuilding the driver map; its own variants keep this store context.
        select = StorageDriverSelectContext(target=ctx.target)
        bound: ExternalStorage = _shallow_copy(
            self, {"_store_context": ctx, "_select_context": select, "_other": {}}
        )
        return bound


def encrypted_data_converter(payload_keys: str) -> DataConverter:
    """Pydantic JSON sealed with the key ring in `payload_keys` (the `PAYLOAD_KEYS` format).

    Failure messages and stack traces move into the failure's encoded attributes, so the codec
    encrypts them too: an exception that quotes a prompt does not leak it into history."""
    from common.encryption import EncryptionCodec  # imported lazily: only when keys are set

    return _encrypted_with(EncryptionCodec.from_setting(payload_keys))


def _encrypted_with(codec: EncryptionCodec) -> DataConverter:
    return dataclasses.replace(
        product_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
