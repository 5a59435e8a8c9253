"""`python -m starter spend` as an operator runs it, on a spend database written through the ledger:
per tenant, day and model, with failed attempts, retries, lost reservations and what is reserved
now apart, each tenant's day and month against its limits, `--tenant`, `--days`, `--json`; no
Temporal needed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from activities.spend.ledger import Limits, Reservation, Reserved, SqliteSpendLedger
from tests.starter.cli import cli_env, run_cli


async def reserve(ledger: SqliteSpendLedger, tenant: str, model: str, amount: int, attempt: int = 1) -> str:
    reservation = Reservation(uuid.uuid4().hex, tenant, model, amount, "wf", "llm step 1", attempt)
    outcome = await ledger.reserve(reservation, Limits(daily=10**9), 600)
    assert isinstance(outcome, Reserved)
    return outcome.reservation_id


async def test_spend_per_tenant_day_and_model_with_failures_retries_lost_and_reserved_apart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spend.sqlite3"
    now = datetime.now(UTC)
    yesterday = SqliteSpendLedger(path, clock=lambda: now - timedelta(days=1))
    await yesterday.settle(await reserve(yesterday, "acme", "model-a", 5_000_000), 2_000_000, "settled")
    today = SqliteSpendLedger(path)
    await today.settle(await reserve(today, "acme", "model-a", 5_000_000), 1_000_000, "failed")
    await today.settle(await reserve(today, "acme", "model-a", 5_000_000, attempt=2), 3_000_000, "settled")
    await reserve(today, "acme", "model-b", 4_000_000)  # running now
    # An hour ago, or today's first moment when that was yesterday: the reservation must be today's.
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    dying = SqliteSpendLedger(path, clock=lambda: max(now - timedelta(hours=1), midnight))
    await dying.renew(await reserve(dying, "acme", "model-b", 1_000_000), 1)  # its worker died
    await today.settle(await reserve(today, "globex", "model-a", 5_000_000), 500_000, "settled")
    budgets = tmp_path / "budgets.json"
    budgets.write_text(json.dumps({"acme": {"daily_usd": 0.5, "monthly_usd": 10}}))
    env = {
        **cli_env("127.0.0.1:1", "unused"),
        "SPEND_LEDGER_PATH": str(path),
        "TENANT_BUDGETS_FILE": str(budgets),
    }

    run = await run_cli("spend", "--days", "2", env=env)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == [
        "TENANT",
        "DAY",
        "MODEL",
        "CALLS",
        "SPENT",
        "FAILED",
        "RETRIES",
        "LOST",
        "RESERVED",
        "NOW",
    ]
    day, before = f"{now:%Y-%m-%d}", f"{now - timedelta(days=1):%Y-%m-%d}"
    rows = [line.split() for line in lines[1:5]]
    assert rows == [
        [
            "acme",
            before,
            "model-a",
            "1",
            "$0.002000",
            "0",
            "$0.000000",
            "0",
            "0",
            "$0.000000",
            "0",
            "$0.000000",
        ],
        ["acme", day, "model-a", "1", "$0.003000", "1", "$0.001000", "1", "0", "$0.000000", "0", "$0.000000"],
        ["acme", day, "model-b", "0", "$0.000000", "0", "$0.000000", "0", "1", "$0.001000", "1", "$0.004000"],
        [
            "globex",
            day,
            "model-a",
            "1",
            "$0.000500",
            "0",
            "$0.000000",
            "0",
            "0",
            "$0.000000",
            "0",
            "$0.000000",
        ],
    ]
    # Today: 0.003 + 0.001 + 0.004 reserved + 0.001 lost (the dead worker's, reserved an hour ago today).
    assert "acme: today $0.009000 of the daily $0.500000; this month" in run.stdout
    assert "globex: today $0.000500 (no daily limit)" in run.stdout

    one = await run_cli("spend", "--tenant", "globex", "--days", "1", "--json", env=env)
    assert one.returncode == 0, one.stderr
    shown = json.loads(one.stdout)
    assert [(line["tenant"], line["calls"], line["spent_usd"]) for line in shown["lines"]] == [
        ("globex", 1, 0.0005)
    ]
    assert {entry["tenant"] for entry in shown["used"]} == {"globex"}

    bad = await run_cli("spend", "--days", "0", env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: argument --days: --days: a whole number"), (
        bad.stderr
    )


async def test_no_database_yet_is_said_in_one_line(tmp_path: Path) -> None:
    env = {**cli_env("127.0.0.1:1", "unused"), "SPEND_LEDGER_PATH": str(tmp_path / "none.sqlite3")}
    run = await run_cli("spend", env=env)
    assert run.returncode == 0 and run.stdout.startswith("no spend recorded: "), run
    assert not (tmp_path / "none.sqlite3").exists()


async def test_more_days_than_a_calendar_holds_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "spend.sqlite3"
    ledger = SqliteSpendLedger(path)
    await ledger.settle(await reserve(ledger, "acme", "model-a", 5_000_000), 2_000_000, "settled")
    env = {**cli_env("127.0.0.1:1", "unused"), "SPEND_LEDGER_PATH": str(path)}
    run = await run_cli("spend", "--days", "999999999", env=env)
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1, run.stderr
    assert run.stderr.startswith("error: argument --days: --days: a whole number from 1 to 36600"), run.stderr
