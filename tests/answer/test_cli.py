"""`python -m starter index DIR` and `answer QUESTION` as a user runs them: subprocesses against the
dev server, with a worker; progress as it happens, then the answer with its citations."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from temporalio.client import Client

from common.settings import Settings
from tests.answer.support import ANSWER_SENTENCE, CORPUS, QUESTION, index_settings
from tests.starter.cli import cli_env, run_cli
from worker.app import build_worker

RELATIVE_CORPUS = os.path.relpath(CORPUS)  # the CLI sends the absolute path


async def test_index_then_answer_from_the_command_line(
    dev_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    settings = index_settings(settings, tmp_path)
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    corpus = f"cli-{uuid.uuid4().hex[:6]}"
    async with build_worker(dev_client, settings):
        indexed = await run_cli("index", RELATIVE_CORPUS, "--corpus", corpus, "--wait", env=env)
        answer_id = f"cli-answer-{uuid.uuid4().hex[:6]}"
        answered = await run_cli(
            "answer", QUESTION, "--corpus", corpus, "--top-k", "3", "--id", answer_id, "--wait", env=env
        )
        status = await run_cli("status", answer_id, env=env)
        refused = await run_cli("answer", QUESTION, "--max-reasks", "11", env=env)

    assert indexed.returncode == 0, indexed.stderr
    assert "  done: scan [index]" in indexed.stdout and "  done: index batch 1/1 [index]" in indexed.stdout
    assert f"corpus {corpus} <- {CORPUS}: 3 files indexed" in indexed.stdout  # the absolute path was sent

    assert answered.returncode == 0, answered.stderr
    lines = answered.stdout.splitlines()
    assert "  done: retrieve [retrieval]" in "\n".join(lines)
    assert any(line.startswith("  done: generate [llm offline-model]") for line in lines)
    assert f'[1] tides.md (tides.md#0): "{ANSWER_SENTENCE}"' in lines
    assert "outcome: grounded  re-asks: 0" in answered.stdout

    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith(f"{answer_id}  phase: completed  iteration: 0  outcome: grounded")
    assert "retrieve" in status.stdout and "validate 1" in status.stdout

    assert refused.returncode == 1
    assert refused.stderr == "error: invalid max-reasks: Input should be less than or equal to 10\n"
