"""A fork of a session (its messages come with the `send` Update, not in its input): the worker takes
the source's messages up to the turn that holds the fork point from the source's history, so the
fork's turns are the source's; the steps before N are reused, and from N on the session is live."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.session.test_session_workflow import answered, close, last_user_texts, say, start, until
from workflows.kit import ForkFrom, SessionInput, SessionResult, WorkflowStatus
from workflows.kit.pytest_plugin import KitWorkerFactory
from workflows.kit.testing import ScriptedModel
from workflows.session import SessionWorkflow

pytestmark = pytest.mark.timeout(90)


def replies() -> ScriptedModel:
    return ScriptedModel(
        [{"match": {"contains": m}, "reply": {"text": f"re: {m}"}} for m in ("one", "two", "three")]
    )


async def start_fork(
    env: WorkflowEnvironment, task_queue: str, source: WorkflowHandle[Any, Any], step: int
) -> WorkflowHandle[Any, SessionResult]:
    described = await source.describe()
    fork = ForkFrom(workflow_id=source.id, run_id=described.run_id, step=step)
    return await env.client.start_workflow(
        SessionWorkflow.run,
        SessionInput(fork_from=fork, model="fork-model"),
        id=f"session-fork-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )


async def test_a_session_forked_at_its_second_turn_answers_it_with_the_forks_model_and_goes_on(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    model = replies()
    async with kit_worker(workflows=[SessionWorkflow], model=model) as worker:
        source = await start(kit_env.client, worker.task_queue)
        await say(source, "one")
        await until(source, answered(1))
        await say(source, "two")
        await until(source, answered(2))
        status = await source.query("status", result_type=WorkflowStatus)
        assert [s.step for s in status.completed_steps] == ["turn 1 step 1", "turn 2 step 1"]
        asked_before = len(model.requests)

        fork = await start_fork(kit_env, worker.task_queue, source, step=2)
        page = await until(fork, answered(2))
        # The first turn was reused; only the second asked the model, the fork's, with turn 1 in it.
        live = model.requests[asked_before:]
        assert [(r.step, r.model) for r in live] == [("turn 2 step 1", "fork-model")]
        assert last_user_texts(live[0]) == ["two"] and "re: one" in str(live[0].messages)
        # The source's messages are queued at the fork's start: both shown before the first reply.
        assert sorted((e.turn, e.role, e.text) for e in page.entries) == [
            (1, "assistant", "re: one"),
            (1, "user", "one"),
            (2, "assistant", "re: two"),
            (2, "user", "two"),
        ]

        # From the fork point on it is a live session: a new message is answered as a third turn.
        sent = await say(fork, "three")
        assert sent.turn == 3
        await until(fork, answered(3))
        fork_status = await fork.query("status", result_type=WorkflowStatus)
        result = await close(kit_env.client, fork)
        await close(kit_env.client, source)
    assert [(r.step, r.model) for r in model.requests[asked_before + 1 :]] == [
        ("turn 3 step 1", "fork-model")
    ]
    assert [s.reused for s in fork_status.completed_steps] == [True, False, False]
    assert result.turns == 3 and result.last_reply == "re: three"


async def test_a_session_forked_after_a_steer_is_refused_in_one_line(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    model = ScriptedModel(
        [
            {"match": {"turn": 0}, "reply": {"text": "slow first step", "delay_s": 1.5}},
            {"reply": {"text": "ok"}},
        ]
    )
    async with kit_worker(workflows=[SessionWorkflow], model=model) as worker:
        source = await start(kit_env.client, worker.task_queue)
        await say(source, "one")
        await until(source, lambda page: page.phase == "thinking")
        steer = await say(source, "shorter please", mode="steer")
        assert steer.taken_as == "steer"
        await until(source, answered(1))
        await say(source, "two")
        await until(source, answered(2))
        asked_before = len(model.requests)

        fork = await start_fork(kit_env, worker.task_queue, source, step=3)
        with pytest.raises(WorkflowFailureError) as failed:
            await fork.result()
        await close(kit_env.client, source)
    message = str(getattr(failed.value.cause, "message", failed.value.cause))
    assert "steer" in message and "shorter please" in message and "\n" not in message
    assert getattr(failed.value.cause, "type", None) == "InvalidInput"
    assert len(model.requests) == asked_before
