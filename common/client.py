"""One way to reach Temporal, for the worker, the starters and the tests."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.service import TLSConfig

from common.converter import build_data_converter
from common.settings import Settings

__all__ = ["TemporalUnreachable", "client_options", "connect"]

log = logging.getLogger(__name__)


class TemporalUnreachable(Exception):
    """Temporal did not answer within the configured connect timeout."""


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `Client.connect`: converter, TLS / API key, tracing plugin."""
    from common.telemetry import client_interceptors, client_plugins

    tls: bool | TLSConfig = False
    if settings.temporal_tls_cert or settings.temporal_tls_ca or settings.temporal_tls:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
            client_private_key=settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None,
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
            domain=settings.temporal_tls_server_name,
        )
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    if api_key and tls is False:
        tls = True  # Temporal Cloud API keys are only accepted over TLS
    return {
        "target_host": settings.temporal_address,
        "namespace": settings.temporal_namespace,
        "api_key": api_key,
        "tls": tls,
        "data_converter": build_data_converter(settings),
        "interceptors": client_interceptors(settings),
        "plugins": client_plugins(settings),
    }


async def connect(settings: Settings, *, wait_s: float | None = None) -> Client:
    """Connect, retrying for up to `wait_s` (default: TEMPORAL_CONNECT_TIMEOUT_S) while the server
    starts; then raise `TemporalUnreachable` with the address in the message."""
    options = client_options(settings)
    deadline = time.monotonic() + (settings.temporal_connect_timeout_s if wait_s is None else wait_s)
    delay = 0.2
    while True:
        try:
            return await Client.connect(**options, connect_timeout=timedelta(seconds=5))
        except Exception as error:  # the SDK raises RuntimeError for transport failures
            if time.monotonic() + delay > deadline:
                raise TemporalUnreachable(
                    f"Temporal at {settings.temporal_address} (namespace {settings.temporal_namespace}) "
                    f"is unreachable: {error}"
                ) from None
            log.info("waiting for Temporal at %s: %s", settings.temporal_address, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
