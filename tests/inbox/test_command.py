"""The inbox's command line: `python -m inbox hash-password`, and `serve` refusing a bad setup."""

from __future__ import annotations

import os
import subprocess
import sys

from inbox.passwords import verify_password


def test_hash_password_command_reads_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "starter", "inbox", "hash-password"],
        input="from stdin\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stored = done.stdout.strip()
    assert verify_password("from stdin", stored)
    assert not verify_password("from stdin\n", stored)


def test_serve_without_reviewers_stops_with_one_line_naming_the_setting() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}
    done = subprocess.run(
        [sys.executable, "-m", "inbox", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "INBOX_REVIEWERS": ""},  # the environment wins over any .env file
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1].startswith("configuration error: INBOX_REVIEWERS: no reviewers")
    )
