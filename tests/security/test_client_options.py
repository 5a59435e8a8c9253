"""Temporal Cloud connection settings: mTLS (client certificate + key, custom CA, server name) and API
keys. Unit tests of `client_options`, then real handshakes through a TLS proxy to the dev server."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import TLSConfig

from common.client import TemporalUnreachable, client_options, connect
from common.settings import Settings, SettingsError, try_load_settings
from tests.security.tls import Pki, make_pki, tls_proxy

API_KEY = "canary-api-key-9c41"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def load(**values: object) -> Settings:
    return try_load_settings(llm_provider="offline", _env_file=None, **values)


def test_plain_connection_has_no_tls_and_no_key() -> None:
    options = client_options(load(temporal_address="localhost:7233"))
    assert options["tls"] is False and options["api_key"] is None


def test_mtls_options_carry_the_certificate_key_ca_and_server_name(pki: Pki) -> None:
    settings = load(
        temporal_address="my-ns.a1b2c.tmprl.cloud:7233",
        temporal_namespace="my-ns.a1b2c",
        temporal_tls_cert=pki.client_cert,
        temporal_tls_key=pki.client_key,
        temporal_tls_ca=pki.ca,
        temporal_tls_server_name="my-ns.a1b2c.tmprl.cloud",
    )
    options = client_options(settings)
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == pki.client_cert.read_bytes()
    assert tls.client_private_key == pki.client_key.read_bytes()
    assert tls.server_root_ca_cert == pki.ca.read_bytes()
    assert tls.domain == "my-ns.a1b2c.tmprl.cloud"
    assert options["target_host"] == "my-ns.a1b2c.tmprl.cloud:7233"
    assert options["namespace"] == "my-ns.a1b2c"
    assert options["api_key"] is None


def test_an_api_key_turns_tls_on() -> None:
    options = client_options(
        load(temporal_address="us-east-1.aws.api.temporal.io:7233", temporal_api_key=API_KEY)
    )
    assert options["api_key"] == API_KEY
    assert options["tls"] is True


def test_a_certificate_without_its_key_is_a_settings_error(pki: Pki) -> None:
    with pytest.raises(SettingsError, match="TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY"):
        load(temporal_tls_cert=pki.client_cert)


def test_settings_never_print_secrets() -> None:
    settings = load(temporal_api_key=API_KEY, anthropic_api_key=API_KEY + "-anthropic")
    assert API_KEY not in repr(settings) and API_KEY not in str(settings.model_dump())


async def system_info(client: Client) -> str:
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    return info.server_version


async def test_mtls_handshake_through_a_tls_proxy(dev_client: Client, pki: Pki) -> None:
    upstream = dev_client.service_client.config.target_host
    with tls_proxy(upstream, pki, require_client_cert=True) as address:
        settings = load(
            temporal_address=address,
            temporal_tls_cert=pki.client_cert,
            temporal_tls_key=pki.client_key,
            temporal_tls_ca=pki.ca,
            temporal_tls_server_name="localhost",
        )
        assert await system_info(await connect(settings, wait_s=10))

        # The same proxy turns away a client without a certificate.
        no_cert = load(temporal_address=address, temporal_tls_ca=pki.ca, temporal_tls_server_name="localhost")
        with pytest.raises(TemporalUnreachable):
            await system_info(await connect(no_cert, wait_s=1))


async def test_api_key_over_tls_through_a_tls_proxy(dev_client: Client, pki: Pki) -> None:
    upstream = dev_client.service_client.config.target_host
    with tls_proxy(upstream, pki, require_client_cert=False) as address:
        settings = load(
            temporal_address=address,
            temporal_api_key=API_KEY,
            temporal_tls_ca=pki.ca,
            temporal_tls_server_name="localhost",
        )
        client = await connect(settings, wait_s=10)
        assert await system_info(client)
        assert client.service_client.config.api_key == API_KEY


def test_pki_files_are_pem(pki: Pki) -> None:
    for path in (pki.ca, pki.client_cert, pki.server_cert):
        assert Path(path).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
