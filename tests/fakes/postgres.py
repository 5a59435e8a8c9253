"""A real PostgreSQL server for tests: a throwaway cluster from the machine's PostgreSQL binaries
(Debian's `postgresql` package; `make test` installs it when `initdb` is missing), listening only on a
Unix socket in a temporary directory. The fixture `postgres_dsn` (registered in the repo's conftest.py)
gives each module that uses it one cluster."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["postgres_bin", "postgres_dsn"]


def postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))  # Debian keeps them off PATH
    return Path(candidates[-1]).parent if candidates else None


@pytest.fixture(scope="module")
def postgres_dsn() -> Iterator[str]:
    """A private PostgreSQL cluster listening only on a Unix socket in a temporary directory."""
    bindir = postgres_bin()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) are missing: `make test` installs postgresql"
        )
    base = Path(tempfile.mkdtemp(prefix="test-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, pg_ctl = base / "data", str(bindir / "pg_ctl")
    subprocess.run(
        [*as_owner, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "ledger", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-k {base} -c listen_addresses= -F"
    start = [*as_owner, pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]
    subprocess.run(start, check=True, capture_output=True)
    try:
        yield f"host={base} dbname=postgres user=ledger"
    finally:
        subprocess.run([*as_owner, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
