"""The README's settings table names every setting, and nothing that is not one."""

import re
from pathlib import Path

from common.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def settings_table() -> str:
    text = README.read_text()
    start = text.index("## Settings")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_setting_is_documented_and_every_documented_variable_exists() -> None:
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", settings_table()))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from the README table"
    assert documented - fields == set(), "README documents variables the Settings class does not read"
