"""The tenant budgets a worker enforces: `TENANT_BUDGETS_FILE` (its shape: common/tenant_budgets.py),
read at worker start (a bad file stops the worker with one line naming the setting) and again
whenever it changes (its modification time and size), so an operator raising a limit needs no
restart. A change that does not parse keeps the limits last read (logged): a typo never lifts every
limit."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from activities.spend.ledger import Limits, nanos
from common.tenant_budgets import BudgetsError, TenantBudget, load_budgets

__all__ = ["BudgetsFile", "limits_of"]

log = logging.getLogger(__name__)


def limits_of(budget: TenantBudget) -> Limits:
    return Limits(
        daily=nanos(budget.daily_usd) if budget.daily_usd is not None else None,
        monthly=nanos(budget.monthly_usd) if budget.monthly_usd is not None else None,
    )


@dataclass
class _Loaded:
    stamp: tuple[int, int] | None  # (mtime_ns, size) of the file read
    budgets: dict[str, TenantBudget]


class BudgetsFile:
    """The budgets of `TENANT_BUDGETS_FILE`, re-read when the file changes (one `stat` per look-up)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._loaded = _Loaded(self._stamp(), load_budgets(self.path))  # a bad file fails here

    def budget(self, tenant: str) -> TenantBudget | None:
        stamp = self._stamp()
        if stamp != self._loaded.stamp:
            try:
                self._loaded = _Loaded(stamp, load_budgets(self.path))
                log.info("TENANT_BUDGETS_FILE %s re-read: %d tenants", self.path, len(self._loaded.budgets))
            except BudgetsError as error:
                log.warning("TENANT_BUDGETS_FILE: %s; keeping the limits last read", error)
                self._loaded = _Loaded(stamp, self._loaded.budgets)
        return self._loaded.budgets.get(tenant)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return (found.st_mtime_ns, found.st_size)
