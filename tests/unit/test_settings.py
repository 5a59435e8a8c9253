import subprocess
import sys

import pytest

from common.client import client_options
from common.settings import SettingsError, try_load_settings


def test_defaults_pick_offline_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("LLM_PROVIDER", raising=False)
    settings = try_load_settings(_env_file=None)
    assert settings.provider == "offline"
    assert settings.temporal_task_queue == "ai-workflows"
    assert settings.temporal_address == "localhost:7233"


def test_key_selects_anthropic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_PROVIDER", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    assert try_load_settings(_env_file=None).provider == "anthropic"


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("TEMPORAL_ADDRESS", "not an address", "TEMPORAL_ADDRESS"),
        ("TEMPORAL_ADDRESS", "host:99999", "TEMPORAL_ADDRESS"),
        ("LLM_PROVIDER", "gemini", "LLM_PROVIDER"),
        ("LLM_PROVIDER", "anthropic", "ANTHROPIC_API_KEY"),
        ("LLM_PROVIDER", "openai", "OPENAI_BASE_URL"),
    ],
)
def test_bad_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=named):
        try_load_settings(_env_file=None)


def test_bad_setting_ends_an_entry_point_with_one_line(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worker"],
        env={"PATH": "", "TEMPORAL_ADDRESS": "nope", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and "TEMPORAL_ADDRESS" in lines[0], result.stderr


def test_api_key_turns_on_tls_and_is_passed_to_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    settings = try_load_settings(
        _env_file=None, temporal_api_key="tc-key", temporal_address="ns.acct.tmprl.cloud:7233"
    )
    options = client_options(settings)
    assert options["api_key"] == "tc-key"
    assert options["tls"] is True
    assert options["target_host"] == "ns.acct.tmprl.cloud:7233"
