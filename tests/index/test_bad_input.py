"""Bad input to the index: a folder the workers cannot read fails the run at once with one typed,
non-retryable line (one attempt); a bad corpus name is refused by the starter in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from common.settings import Settings
from tests.answer.history import activity_attempts
from tests.answer.support import index_settings, start_index
from tests.starter.cli import cli_env, run_cli
from worker.app import build_worker


async def test_a_missing_folder_fails_the_run_once_with_one_line(
    ts_client: Client, settings: Settings, tmp_path: Path
) -> None:
    settings = index_settings(settings, tmp_path)
    missing = tmp_path / "no-such-folder"
    async with build_worker(ts_client, settings):
        handle = await start_index(ts_client, settings, missing)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("InvalidCorpus", True)
    assert cause.message == f"not a folder on this worker: {missing}"
    _, started = await activity_attempts(handle)
    assert started["retrieval.scan"] == 1


async def test_the_starter_refuses_a_bad_corpus_name_in_one_line(dev_client: Client, task_queue: str) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    run = await run_cli("index", ".", "--corpus", "no spaces/allowed", env=env)
    assert run.returncode == 1
    assert (
        run.stderr.startswith("error: invalid corpus: String should match pattern")
        and run.stderr.count("\n") == 1
    )
