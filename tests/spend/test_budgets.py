"""TENANT_BUDGETS_FILE: a bad file stops a worker at start with one line naming the setting; a
change is read without a restart; a change that does not parse keeps the limits last read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from activities.spend.budgets import BudgetsFile, limits_of
from activities.spend.ledger import Limits
from common.settings import SettingsError, try_load_settings
from common.tenant_budgets import BudgetsError, load_budgets


def write(path: Path, content: object, *, bump: int = 0) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    if bump:  # a later modification time, as an operator's edit seconds later has
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))
    return path


def test_limits_in_nanodollars_either_may_be_absent(tmp_path: Path) -> None:
    path = write(tmp_path / "b.json", {"acme": {"daily_usd": 50, "monthly_usd": 1000.5}, "globex": {}})
    budgets = load_budgets(path)
    assert limits_of(budgets["acme"]) == Limits(daily=50_000_000_000, monthly=1_000_500_000_000)
    assert limits_of(budgets["globex"]) == Limits()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[1]", "expected a JSON object from tenant name to limits"),
        ("{", "not JSON"),
        ({"acme": {"daily": 5}}, "tenant 'acme': daily: Extra inputs are not permitted"),
        ({"acme": {"daily_usd": -1}}, "tenant 'acme': daily_usd: Input should be greater than or equal to 0"),
        ({"a cme": {"daily_usd": 1}}, "tenant 'a cme': 1-100 characters"),
        # Limits every reservation could not use (they overflowed to an OverflowError per model
        # call, retried forever) or that only look like numbers.
        ('{"acme": {"daily_usd": Infinity}}', "tenant 'acme': daily_usd: Input should be a finite number"),
        (
            {"acme": {"monthly_usd": 1e300}},
            "tenant 'acme': monthly_usd: Input should be less than or equal to",
        ),
        ({"acme": {"daily_usd": True}}, "tenant 'acme': daily_usd: Input should be a valid number"),
        ({"acme": {"daily_usd": "5"}}, "tenant 'acme': daily_usd: Input should be a valid number"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_setting(tmp_path: Path, content: object, problem: str) -> None:
    path = write(tmp_path / "budgets.json", content)
    with pytest.raises(BudgetsError, match=r"budgets\.json"):
        load_budgets(path)
    with pytest.raises(SettingsError) as raised:
        try_load_settings(tenant_budgets_file=str(path), llm_provider="offline")
    message = str(raised.value)
    assert message.startswith(f"TENANT_BUDGETS_FILE: {path}: ") and "\n" not in message, message
    assert problem in message


def test_a_missing_file_stops_the_worker_too(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"TENANT_BUDGETS_FILE: .*cannot read"):
        try_load_settings(tenant_budgets_file=str(tmp_path / "nowhere.json"), llm_provider="offline")


def test_a_raised_limit_is_read_without_a_restart_and_a_typo_keeps_the_last_limits(tmp_path: Path) -> None:
    path = write(tmp_path / "budgets.json", {"acme": {"daily_usd": 1}})
    budgets = BudgetsFile(path)
    first = budgets.budget("acme")
    assert first is not None and first.daily_usd == 1
    assert budgets.budget("globex") is None
    write(path, {"acme": {"daily_usd": 5}, "globex": {"monthly_usd": 2}}, bump=1)
    raised, added = budgets.budget("acme"), budgets.budget("globex")
    assert raised is not None and raised.daily_usd == 5
    assert added is not None and added.monthly_usd == 2
    write(path, '{"acme": {"daily_usd": 5', bump=2)
    kept = budgets.budget("acme")
    assert kept is not None and kept.daily_usd == 5
