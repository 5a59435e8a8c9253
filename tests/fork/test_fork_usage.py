"""`starter fork` refuses a step number below 1 as a usage error, before it connects to anything."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("step", ["0", "-3", "two"])
def test_a_step_below_one_is_a_usage_error_before_connecting(step: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "starter", "fork", "some-run", "--from-step", step],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TEMPORAL_ADDRESS": "127.0.0.1:9"},  # nothing listens there
        timeout=60,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "--from-step" in lines[-1], done.stderr
    assert "unreachable" not in done.stderr
