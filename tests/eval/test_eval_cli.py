"""`python -m starter eval` as a user runs it, through a real `python -m worker` on the dev server and a
model double that counts requests (an OpenAI-compatible server): three recorded agent runs, one of
them with an approved webhook; an eval whose candidate model calls the calculator differently for
one goal reports two passes and one failure, never sends the webhook again (the real receiver keeps
its one request), writes both reports, and exits 1 under `--min-pass 1.0`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from starter import api
from tests.eval.world import CANDIDATE_MODEL, MULTIPLY, ORIGINAL_MODEL, EvalWorld, record_runs
from tests.starter.cli import run_cli
from workflows.kit.eval_mode import SIMULATED
from workflows.models import AgentInput

pytestmark = pytest.mark.timeout(240)


async def test_an_eval_scores_two_passes_and_one_failure_and_sends_nothing(
    world: EvalWorld, task_queue: str, tmp_path: Path
) -> None:
    ids = await record_runs(world, task_queue)
    assert len(world.receiver.requests) == 1  # the approved webhook, sent once
    assert world.double.requests_per_model() == {ORIGINAL_MODEL: 6}

    out = tmp_path / "report"
    run = await run_cli(
        "eval",
        "--ids",
        ",".join(ids),
        "--candidate-model",
        CANDIDATE_MODEL,
        "--min-pass",
        "1.0",
        "--out",
        str(out),
        env=world.cli,
    )

    assert run.returncode == 1, run.stderr
    [summary] = run.stdout.splitlines()
    assert summary.startswith("eval: 2/3 passed (66.7%), cost original $"), summary
    # Every candidate step asked the candidate model: two turns per case, nothing more.
    assert world.double.requests_per_model() == {ORIGINAL_MODEL: 6, CANDIDATE_MODEL: 6}
    assert len(world.receiver.requests) == 1  # the candidate's webhook was simulated, never sent

    report = json.loads((out / "report.json").read_text())
    assert (report["total"], report["passed"]) == (3, 2)
    cases = {case["original"]["workflow_id"]: case for case in report["cases"]}
    multiply, add, notify = (cases[workflow_id] for workflow_id in ids)
    assert multiply["passed"] and notify["passed"] and not add["passed"]
    assert [d["check"] for d in add["differences"]] == ["tool_calls"]
    assert 'expression: "6 * 7" -> "6 + 7"' in add["differences"][0]["detail"]
    assert add["original"]["answer"] == "The answer: 42" and add["candidate"]["answer"] == "The answer: 13"
    [simulated] = notify["candidate"]["tool_calls"]
    assert simulated["simulated"] and simulated["observation"].startswith(SIMULATED)
    assert all(case["fork_step"] == 1 for case in report["cases"])
    for case in report["cases"]:  # each candidate is a fork of its original, from its first model step
        status = await api.get_status(world.client, case["candidate"]["workflow_id"])
        assert status.forked_from is not None
        assert (status.forked_from.workflow_id, status.forked_from.step) == (
            case["original"]["workflow_id"],
            1,
        )
    assert all(
        case["candidate"]["cost_usd"] > 0 and case["original"]["cost_usd"] > 0 for case in report["cases"]
    )
    assert report["candidate_cost_usd"] < report["original_cost_usd"]  # the candidate's price is lower

    page = (out / "report.html").read_text()
    assert "2/3 passed" in page and "6 + 7" in page
    assert "<script" not in page


async def test_an_eval_with_a_system_prompt_for_a_workflow_without_one_is_one_line(
    world: EvalWorld, task_queue: str, tmp_path: Path
) -> None:
    handle = await api.start_workflow(
        world.client,
        api.AGENT_WORKFLOW,
        AgentInput(goal=MULTIPLY, tools=["calculator"]),
        task_queue=task_queue,
        workflow_id=f"eval-source-{uuid.uuid4().hex[:8]}",
    )
    await handle.result()
    system = tmp_path / "system.txt"
    system.write_text("Be brief.")
    run = await run_cli(
        "eval",
        "--ids",
        handle.id,
        "--candidate-model",
        CANDIDATE_MODEL,
        "--candidate-system",
        str(system),
        "--out",
        str(tmp_path / "report"),
        env=world.cli,
    )
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f"error: --candidate-system: AgentWorkflow's input has no `system` field (run {handle.id}); "
        "select runs of workflows that take one"
    ]
    assert CANDIDATE_MODEL not in world.double.requests_per_model()  # nothing started
