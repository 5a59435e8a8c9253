"""`python -m starter spend [--tenant T] [--days N] [--json]`: what the tenants with a budget spent,
read from the spend database the workers write (the same settings: `SPEND_LEDGER_PATH`, or
`SPEND_LEDGER_DSN`), per tenant, day (UTC) and model: successful calls, failed attempts (billed too),
retries, reservations lost with a dead worker (counted at their reserved amount) apart, what is
reserved right now, and each tenant's day and month against its limits (`TENANT_BUDGETS_FILE`).
Needs no Temporal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.spend.ledger import SpendRow, open_spend_ledger, usd
from common.settings import Settings
from common.tenant_budgets import BudgetsError, TenantBudget, load_budgets

__all__ = ["SpendLine", "add_spend_parser", "run_spend", "spend_lines", "spend_text"]


def add_spend_parser(commands: Any) -> None:
    spend = commands.add_parser("spend", help="tenants' spend per day and model, and what is reserved now")
    spend.add_argument("--tenant", default="", metavar="T", help="only this tenant")
    spend.add_argument(
        "--days", type=_days, default=7, metavar="N", help="the last N days, today included (7)"
    )
    spend.add_argument("--json", action="store_true", help="the same as JSON")


_MAX_DAYS = 36600  # a century: further back than any spend, and a date the calendar still holds


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= _MAX_DAYS:
        raise argparse.ArgumentTypeError(f"--days: a whole number from 1 to {_MAX_DAYS}, got {text!r}")
    return days


@dataclass
class SpendLine:
    """One tenant's spend with one model on one day; amounts in USD."""

    tenant: str
    day: str
    model: str
    calls: int = 0  # attempts that answered
    spent_usd: float = 0.0
    failed: int = 0  # attempts that failed (billed for what they used)
    failed_usd: float = 0.0
    retries: int = 0  # attempts after the first of their call, whatever their end
    lost: int = 0  # reservations whose worker died: counted at their reserved amount
    lost_usd: float = 0.0
    reserved_now: int = 0
    reserved_now_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return self.spent_usd + self.failed_usd + self.lost_usd + self.reserved_now_usd


def spend_lines(rows: list[SpendRow]) -> list[SpendLine]:
    lines: dict[tuple[str, str, str], SpendLine] = {}
    for row in rows:
        line = lines.setdefault((row.tenant, row.day, row.model), SpendLine(row.tenant, row.day, row.model))
        amount = usd(row.nanos)
        if row.retry:
            line.retries += row.attempts
        if row.state == "settled":
            line.calls, line.spent_usd = line.calls + row.attempts, line.spent_usd + amount
        elif row.state == "failed":
            line.failed, line.failed_usd = line.failed + row.attempts, line.failed_usd + amount
        elif row.state == "lost":
            line.lost, line.lost_usd = line.lost + row.attempts, line.lost_usd + amount
        else:
            line.reserved_now += row.attempts
            line.reserved_now_usd += amount
    return sorted(lines.values(), key=lambda line: (line.tenant, line.day, line.model))


def spend_text(
    lines: list[SpendLine], used: dict[tuple[str, str], int], budgets: dict[str, TenantBudget], now: datetime
) -> str:
    if not lines:
        return "no spend recorded in these days"
    header = ("TENANT", "DAY", "MODEL", "CALLS", "SPENT", "FAILED", "RETRIES", "LOST", "RESERVED NOW")
    table = [header] + [
        (
            line.tenant,
            line.day,
            line.model,
            str(line.calls),
            f"${line.spent_usd:.6f}",
            f"{line.failed} ${line.failed_usd:.6f}",
            str(line.retries),
            f"{line.lost} ${line.lost_usd:.6f}",
            f"{line.reserved_now} ${line.reserved_now_usd:.6f}",
        )
        for line in lines
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    day, month = f"day:{now:%Y-%m-%d}", f"month:{now:%Y-%m}"
    for tenant in sorted({line.tenant for line in lines}):
        budget = budgets.get(tenant)
        today = _against(used.get((tenant, day), 0), budget.daily_usd if budget else None, "daily")
        this_month = _against(used.get((tenant, month), 0), budget.monthly_usd if budget else None, "monthly")
        text.append(f"{tenant}: today {today}; this month {this_month} (spent or reserved)")
    return "\n".join(text)


def _against(nanos: int, limit: float | None, name: str) -> str:
    spent = f"${usd(nanos):.6f}"
    return f"{spent} of the {name} ${limit:.6f}" if limit is not None else f"{spent} (no {name} limit)"


async def run_spend(settings: Settings, args: argparse.Namespace) -> int:
    """Prints the report; 1 with one line when the database cannot be read."""
    dsn = settings.spend_ledger_dsn.get_secret_value() if settings.spend_ledger_dsn else None
    if dsn is None and not await asyncio.to_thread(Path(settings.spend_ledger_path).exists):
        print(f"no spend recorded: {settings.spend_ledger_path} does not exist (no budgeted call yet)")
        return 0
    now = datetime.now(UTC)
    since = (now - timedelta(days=args.days - 1)).strftime("%Y-%m-%d")
    ledger = open_spend_ledger(Path(settings.spend_ledger_path), dsn)
    try:
        rows, used = await ledger.report(since, args.tenant), await ledger.used()
    except ApplicationError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    finally:
        await ledger.close()
    budgets: dict[str, TenantBudget] = {}
    if settings.tenant_budgets_file.strip():
        try:
            budgets = load_budgets(Path(settings.tenant_budgets_file))
        except BudgetsError:
            budgets = {}  # the report still shows the spend; the worker names the file's problem
    lines = spend_lines(rows)
    if args.json:
        shown = {
            "since": since,
            "lines": [asdict(line) | {"total_usd": line.total_usd} for line in lines],
            "used": [
                {"tenant": tenant, "period": period, "usd": usd(nanos)}
                for (tenant, period), nanos in sorted(used.items())
                if not args.tenant or tenant == args.tenant
            ],
        }
        print(json.dumps(shown, indent=2))
    else:
        print(spend_text(lines, used, budgets, now))
    return 0
