"""The shape of `TENANT_BUDGETS_FILE`: a JSON object from tenant name to its limits in USD, days and
months in UTC. A tenant not in the file has no tenant limit.

    {"acme": {"daily_usd": 50, "monthly_usd": 1000}, "globex": {"monthly_usd": 200}}

Only the shape lives here (settings validation reads the file at start too, and `common` imports
nothing of `activities`); activities/spend/budgets.py re-reads it when it changes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.contracts.runs import TENANT_PATTERN

__all__ = ["MAX_LIMIT_USD", "BudgetsError", "TenantBudget", "load_budgets"]


class BudgetsError(ValueError):
    """A budgets file that cannot be used; the message is one line naming the file and the tenant."""


# The largest limit: a billion dollars, in nanodollars still far inside a 64-bit integer (the ledger's
# BIGINT); a larger or infinite one could not be counted in at all.
MAX_LIMIT_USD = 1e9


class TenantBudget(BaseModel):
    # strict: `true` or `"5"` are not amounts of money (lax mode read them as $1 and $5).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    daily_usd: float | None = Field(default=None, ge=0, le=MAX_LIMIT_USD, allow_inf_nan=False)
    monthly_usd: float | None = Field(default=None, ge=0, le=MAX_LIMIT_USD, allow_inf_nan=False)


def load_budgets(path: Path) -> dict[str, TenantBudget]:
    """The budgets of a file, or `BudgetsError` naming what is wrong."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BudgetsError(f"{path}: cannot read: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BudgetsError(f"{path}: not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise BudgetsError(f"{path}: expected a JSON object from tenant name to limits")
    budgets: dict[str, TenantBudget] = {}
    for tenant, limits in raw.items():
        if not re.fullmatch(TENANT_PATTERN, tenant):
            raise BudgetsError(
                f"{path}: tenant {tenant!r}: 1-100 characters of letters, digits, '.', '_', '-'"
            )
        try:
            budgets[tenant] = TenantBudget.model_validate(limits)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ())) or "limits"
            raise BudgetsError(f"{path}: tenant {tenant!r}: {where}: {first.get('msg', 'invalid')}") from None
    return budgets
