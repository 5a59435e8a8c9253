"""The README's `temporal` CLI block for the grounded-answer pipeline, run with the `temporal` binary
against the dev server and a worker. Only the folder (a path on the workers' host), the task queue,
the workflow ids (made unique) and `--address` change; the folder is this repository's docs/corpus."""

from __future__ import annotations

import json
import shlex
import uuid
from pathlib import Path

from temporalio.client import Client

from common.settings import Settings
from starter.demo import DEMO_CORPUS
from tests.answer.support import index_settings
from tests.integration.test_temporal_cli import README, TEMPORAL, json_field, option, run
from worker.app import build_worker

HEADING = "The grounded-answer pipeline from the `temporal` CLI"
README_FOLDER = "/srv/ai-workflows/docs/corpus"


def answer_commands() -> list[list[str]]:
    text = README.read_text()
    block = text[text.index(HEADING) :].split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


async def test_readme_temporal_cli_index_and_answer(
    dev_client: Client, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    settings = index_settings(settings, tmp_path)
    address = dev_client.service_client.config.target_host
    suffix = uuid.uuid4().hex[:8]
    outputs: dict[tuple[str, str], str] = {}
    async with build_worker(dev_client, settings):
        for args in answer_commands():
            args = [TEMPORAL, *args[1:], "--address", address]
            if "--task-queue" in args:
                args[args.index("--task-queue") + 1] = task_queue
            if "--input" in args:
                args[args.index("--input") + 1] = args[args.index("--input") + 1].replace(
                    README_FOLDER, str(DEMO_CORPUS)
                )
            readme_id = option(args, "--workflow-id")
            assert readme_id is not None
            args[args.index("--workflow-id") + 1] = f"{readme_id}-{suffix}"
            code, output = await run(args)
            assert code == 0, output
            outputs[(readme_id, args[2])] = output

    indexed = json_field(outputs[("index-docs", "result")], "Result")
    assert (indexed["corpus"], indexed["files_indexed"]) == ("docs", len(list(DEMO_CORPUS.glob("*.md"))))
    answered = json_field(outputs[("answer-1", "result")], "Result")
    assert answered["outcome"] == "grounded"
    [citation] = answered["citations"]
    assert "crash" in citation["quote"] and (DEMO_CORPUS / citation["source"]).is_file()
    status = json_field(outputs[("answer-1", "query")], "QueryResult")
    assert (status["phase"], status["outcome"]) == ("completed", "grounded")
    assert json.dumps(answered["citations"][0]["quote"]) in outputs[("answer-1", "result")]
