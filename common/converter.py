"""The data converter every client and worker uses: pydantic JSON, plus payload encryption when
`PAYLOAD_KEYS` is set."""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from common.settings import Settings


def build_data_converter(settings: Settings) -> DataConverter:
    converter = pydantic_data_converter
    codec = _payload_codec(settings)
    if codec is not None:
        converter = dataclasses.replace(converter, payload_codec=codec)
    return converter


def _payload_codec(settings: Settings):  # type: ignore[no-untyped-def]
    if settings.payload_keys is None or not settings.payload_keys.get_secret_value().strip():
        return None
    from common.encryption import EncryptionCodec  # imported lazily: only when keys are set

    return EncryptionCodec.from_setting(settings.payload_keys.get_secret_value())
