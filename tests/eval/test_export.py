"""`python -m starter eval export` writes real recorded runs (a real worker, the model double) as JSON
lines, and the testing kit replays each under pytest: `eval_cases` reads the file, and
`ScriptedModel.from_case` answers every model step with its recorded reply, so each replay ends with
the recorded answer and tool calls, asks no model, and, in eval mode, sends no webhook again."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from common.contracts.evals import RecordedRun
from tests.eval.world import ADD, MULTIPLY, NOTIFY, ORIGINAL_MODEL, EvalWorld, record_runs
from tests.starter.cli import run_cli
from workflows.kit.eval_mode import SIMULATED
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel, eval_cases

pytestmark = pytest.mark.timeout(240)


async def test_exported_runs_replay_under_pytest_with_the_scripted_model(
    world: EvalWorld,
    task_queue: str,
    tmp_path: Path,
    kit_env: WorkflowEnvironment,
    kit_worker: KitWorkerFactory,
) -> None:
    ids = await record_runs(world, task_queue)
    out = tmp_path / "cases" / "cases.jsonl"
    run = await run_cli("eval", "export", "--ids", ",".join(ids), "--out", str(out), env=world.cli)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [f"exported 3 runs to {out}"]

    cases = eval_cases(out)
    assert [case.workflow_id for case in cases] == ids
    # The same runs by a visibility query (newest first), once the server's visibility lists them.
    query = f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Completed'"
    await visible(world, query, 3)
    by_query = tmp_path / "by-query.jsonl"
    run = await run_cli("eval", "export", "--query", query, "--out", str(by_query), env=world.cli)
    assert run.returncode == 0, run.stderr
    assert sorted(case.workflow_id for case in eval_cases(by_query)) == sorted(ids)
    bad = await run_cli(
        "eval", "export", "--query", "NoSuchAttribute = 1", "--out", str(by_query), env=world.cli
    )
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1, bad.stderr
    assert bad.stderr.startswith("error: invalid --query: "), bad.stderr
    by_goal = {case.input["goal"]: case for case in cases}
    assert set(by_goal) == {MULTIPLY, ADD, NOTIFY}
    multiply = by_goal[MULTIPLY]
    assert multiply.workflow_type == "AgentWorkflow" and multiply.status == "completed"
    assert multiply.outcome == "completed" and multiply.answer() == "The answer: 391"
    assert [call.step for call in multiply.model_calls] == ["llm step 1", "llm step 2"]
    assert all(call.reply.model == ORIGINAL_MODEL for call in multiply.model_calls)
    [calculated] = multiply.tool_calls()
    assert (calculated.name, calculated.arguments, calculated.observation) == (
        "calculator",
        {"expression": "17 * 23"},
        "391",
    )
    [sent] = by_goal[NOTIFY].tool_calls()
    assert sent.name == "send_webhook" and sent.observation and sent.observation.startswith("Delivered: POST")
    assert [step.kind for step in multiply.steps] == ["llm", "tool", "llm"]

    requests_before = sum(world.double.requests_per_model().values())
    for case in cases:
        await replay(case, kit_env, kit_worker)
    assert sum(world.double.requests_per_model().values()) == requests_before  # no model was asked
    assert len(world.receiver.requests) == 1  # the recorded webhook only


async def visible(world: EvalWorld, query: str, count: int, within_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while (await world.client.count_workflows(query)).count < count:
        assert asyncio.get_running_loop().time() < deadline, f"visibility never listed {count} runs: {query}"
        await asyncio.sleep(0.2)  # a poll interval: visibility catches up on its own


async def replay(case: RecordedRun, kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory) -> None:
    model = ScriptedModel.from_case(case)
    async with kit_worker(model=model) as worker:
        result = await kit_env.client.execute_workflow(
            case.workflow_type,
            case.replay_input(),
            id=f"replay-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
    assert result["answer"] == case.answer() and result["outcome"] == case.outcome
    assert [request.step for request in model.requests] == [call.step for call in case.model_calls]
    replayed = [step for step in result["steps"] if step["kind"] == "tool"]
    recorded = case.tool_calls()
    assert [step["step"].rsplit(" ", 1)[-1] for step in replayed] == [call.name for call in recorded]
    if recorded[0].name == "send_webhook":  # a side effect: simulated in the replay, never sent
        assert replayed[0]["detail"].startswith(SIMULATED)


def test_a_line_that_is_not_a_recorded_run_is_named(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"workflow_type": "AgentWorkflow"}\n')
    with pytest.raises(ValueError, match=r"cases.jsonl:1: not a recorded run: workflow_id: Field required"):
        eval_cases(cases)
