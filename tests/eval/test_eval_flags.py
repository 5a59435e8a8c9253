"""`starter eval`'s flags: a case timeout that is not a positive number of seconds (`0`, `-5`, `nan`,
`inf`) is a one-line usage error before anything starts, never an eval whose every case times out at
once (and has its candidate run terminated) or waits forever; an `--out` that cannot be written is
one line before any run is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

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


@pytest.mark.parametrize("command", [["eval"], ["eval", "export"]])
async def test_an_out_that_cannot_be_written_is_one_line_before_any_run_is_read(
    command: list[str], dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """An eval runs every case first and writes its reports last: an --out found unwritable only
    then would lose an hour of cases to a traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "reports"
    address = dev_server_env.client.service_client.config.target_host
    run = await run_cli(
        *command,
        "--ids",
        "no-such-run",
        *(["--candidate-model", "m"] if command == ["eval"] else []),
        "--out",
        str(out),
        env=cli_env(address, "unused"),
    )
    assert run.returncode == 1 and len(run.stderr.splitlines()) == 1, run.stderr
    assert run.stderr.startswith(f"error: --out {out}: cannot write: "), run.stderr
