"""The delivery settings fail at start with one line that names the variable, never later."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

from common.settings import Settings, SettingsError, try_load_settings


def _load(**overrides: object) -> Settings:
    return try_load_settings(llm_provider="offline", _env_file=None, **overrides)


def test_defaults() -> None:
    settings = _load()
    assert (settings.smtp_port, settings.smtp_starttls, settings.delivery_timeout_s) == (25, False, 30.0)
    assert settings.dedupe_ledger_dsn is None


def test_a_malformed_dsn_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        _load(dedupe_ledger_dsn="password=hunter2 garbage")
    message = str(caught.value)
    assert message.startswith("DEDUPE_LEDGER_DSN: not a PostgreSQL connection string")
    assert "hunter2" not in message


def test_an_empty_dsn_means_the_sqlite_ledger() -> None:
    assert _load(dedupe_ledger_dsn="  ").dedupe_ledger_dsn is None


def test_a_dsn_without_psycopg_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def without_psycopg(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("psycopg"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_psycopg)
    with pytest.raises(SettingsError, match=r"DEDUPE_LEDGER_DSN: needs the psycopg package"):
        _load(dedupe_ledger_dsn="postgresql://ledger@db.internal/ledger")


@pytest.mark.parametrize(
    ("name", "value"), [("smtp_port", 0), ("smtp_port", 70000), ("delivery_timeout_s", 0)]
)
def test_out_of_range_numbers_are_refused(name: str, value: object) -> None:
    with pytest.raises(SettingsError, match=name.upper()):
        _load(**{name: value})
