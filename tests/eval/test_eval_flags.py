"""`starter eval`'s flags: a case timeout that is not a positive number of seconds (`0`, `-5`, `nan`,
`inf`) is a one-line usage error before anything starts, never an eval whose every case times out at
once (and has its candidate run terminated) or waits forever."""

from __future__ import annotations

import pytest

from tests.starter.cli import cli_env, run_cli


@pytest.mark.parametrize("seconds", ["0", "-5", "nan", "inf", "soon"])
async def test_a_case_timeout_must_be_a_positive_number_of_seconds(seconds: str) -> None:
    run = await run_cli(
        "eval",
        "--ids",
        "some-run",
        "--candidate-model",
        "m",
        "--case-timeout",
        seconds,
        "--out",
        "unused",
        env=cli_env("127.0.0.1:1", "unused"),
    )
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1, run.stderr
    assert run.stderr.startswith("error: argument --case-timeout: "), run.stderr
