"""Spend governance across runs: tenant budgets reserved before each model call, and shared rate limits.

One database (SQLite on one host, PostgreSQL for many: SPEND_LEDGER_PATH / SPEND_LEDGER_DSN) holds
both, each in its own table.
"""

__all__: list[str] = []
