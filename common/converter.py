"""The data converter every client and worker uses: pydantic JSON, plus payload encryption when
`PAYLOAD_KEYS` is set."""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from common.settings import Settings


def build_data_converter(settings: Settings) -> DataConverter:
    if settings.payload_keys is None or not settings.payload_keys.get_secret_value().strip():
        return pydantic_data_converter
    return encrypted_data_converter(settings.payload_keys.get_secret_value())


def encrypted_data_converter(payload_keys: str) -> DataConverter:
    """Pydantic JSON sealed with the key ring in `payload_keys` (the `PAYLOAD_KEYS` format).

    Failure messages and stack traces move into the failure's encoded attributes, so the codec
    encrypts them too: an exception that quotes a prompt does not leak it into history."""
    from common.encryption import EncryptionCodec  # imported lazily: only when keys are set

    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec.from_setting(payload_keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
