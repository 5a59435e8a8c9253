"""Printing the settings (a log line, a traceback's locals, a debugger) shows no secret: not the
`SecretStr` values, and not credentials inside URL settings (userinfo, a webhook's secret path, a
query-string token)."""

from __future__ import annotations

import pytest

from common.settings import Settings, try_load_settings
from inbox.passwords import hash_password

CANARY = "canary-secret-5e1b"


@pytest.fixture
def loaded() -> Settings:
    return try_load_settings(
        llm_provider="offline",
        temporal_api_key=CANARY,
        anthropic_api_key=CANARY,
        anthropic_base_url=f"https://user:{CANARY}@llm.example/v1",
        openai_api_key=CANARY,
        openai_base_url=f"https://llm.example/v1?key={CANARY}",
        smtp_password=CANARY,
        approval_escalation_url=f"https://hooks.example/services/T0/B0/{CANARY}",
        payload_keys=f"k1:{'A' * 43}=",
        codec_server_token=CANARY,
        otel_exporter_otlp_endpoint=f"https://otel:{CANARY}@collector.example:4318",
        otel_exporter_otlp_traces_endpoint=f"https://collector.example/v1/traces?token={CANARY}",
        otel_exporter_otlp_metrics_endpoint=f"https://collector.example/{CANARY}/v1/metrics",
        temporal_web_ui=f"https://ui.example/?token={CANARY}",
        inbox_reviewers=f"alice:{hash_password(CANARY, n=2**10)}",
        inbox_secret_key=CANARY,
        _env_file=None,
    )


def test_settings_repr_and_str_show_no_secret(loaded: Settings) -> None:
    for text in (repr(loaded), str(loaded), f"{loaded!r}", f"{loaded}"):
        assert CANARY not in text
        assert "A" * 43 not in text  # the payload key
        assert "scrypt:" not in text  # reviewers' password hashes
    # What is not secret stays readable: where things are.
    assert "llm.example" in repr(loaded) and "collector.example:4318" in repr(loaded)


def test_the_values_themselves_are_intact(loaded: Settings) -> None:
    assert loaded.approval_escalation_url == f"https://hooks.example/services/T0/B0/{CANARY}"
    assert loaded.anthropic_base_url == f"https://user:{CANARY}@llm.example/v1"
