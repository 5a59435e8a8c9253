"""SessionWorkflow on the time-skipping server, through the testing kit's fixtures and a scripted
model: queued messages answered in order, a steer seen by the running turn's next model step, an
interrupt that cancels a slow model call or withdraws a pending approval, the idle timeout, close,
continue-as-new keeping the conversation, and the `send` validator's refusals."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from common.contracts.llm import LLMRequest
from common.search_attributes import COST_USD, PHASE, TENANT
from tests.history_events import upserted_keys
from workflows.kit import (
    SendRequest,
    SendResult,
    SessionInput,
    SessionResult,
    TranscriptPage,
    TranscriptQuery,
    WorkflowStatus,
)
from workflows.kit.pytest_plugin import KitWorkerFactory, wait_for_approval
from workflows.kit.testing import ScriptedModel
from workflows.session import SessionWorkflow

pytestmark = pytest.mark.timeout(90)

TIMER_EVENTS = (EventType.EVENT_TYPE_TIMER_STARTED, EventType.EVENT_TYPE_TIMER_CANCELED)


async def start(client: Client, task_queue: str, **fields: Any) -> WorkflowHandle[Any, SessionResult]:
    return await client.start_workflow(
        SessionWorkflow.run,
        SessionInput(**fields),
        id=f"session-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )


async def say(handle: WorkflowHandle[Any, Any], text: str, mode: str = "queue") -> SendResult:
    return await handle.execute_update("send", SendRequest(text=text, mode=mode), result_type=SendResult)  # type: ignore[arg-type]


async def transcript(handle: WorkflowHandle[Any, Any], after: int = 0) -> TranscriptPage:
    return await handle.query(
        "transcript",
        TranscriptQuery(after=after),
        result_type=TranscriptPage,
        rpc_timeout=timedelta(seconds=5),
    )


async def until(handle: WorkflowHandle[Any, Any], condition: Any, timeout_s: float = 30.0) -> TranscriptPage:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            page = await transcript(handle)
        except RPCError as error:
            # A query the test server could not hand to the worker in time (it happens on a loaded
            # machine while the session continues-as-new): ask again.
            assert loop.time() < deadline, f"the transcript query kept failing: {error}"
            continue
        if condition(page):
            return page
        assert loop.time() < deadline, f"the transcript never matched: {page.model_dump_json()[:800]}"
        await asyncio.sleep(0.05)


def answered(turns: int) -> Any:
    return lambda page: sum(1 for e in page.entries if e.turn_outcome == "answered") >= turns


def last_user_texts(request: LLMRequest) -> list[str]:
    """The text blocks of the request's last user message."""
    return [block.text for block in request.messages[-1].content if getattr(block, "type", "") == "text"]


async def close(
    client: Client, handle: WorkflowHandle[Any, SessionResult], reason: str = "done"
) -> SessionResult:
    await handle.execute_update("close", {"reason": reason})
    return await result_of_latest_run(client, handle)


async def result_of_latest_run(client: Client, handle: WorkflowHandle[Any, SessionResult]) -> SessionResult:
    """The session's result, read from its latest run. Following the chain from the first run (what
    `handle.result()` does) can wait forever on the time-skipping server: an Update's workflow task
    racing a continue-as-new sometimes leaves that run's history without its closing event."""
    latest = client.get_workflow_handle(handle.id, result_type=SessionResult)
    return await latest.result()


async def test_queued_messages_are_answered_in_order_as_turns_of_their_own(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    model = ScriptedModel(
        [{"match": {"contains": m}, "reply": {"text": f"re: {m}"}} for m in ("one", "two", "three")]
    )
    async with kit_worker(workflows=[SessionWorkflow], model=model) as worker:
        handle = await start(kit_env.client, worker.task_queue)
        sent = [await say(handle, text) for text in ("one", "two", "three")]
        assert [s.turn for s in sent] == [1, 2, 3] and [s.taken_as for s in sent] == ["queue"] * 3
        page = await until(handle, answered(3))
        result = await close(kit_env.client, handle)
    replies = [e.text for e in page.entries if e.role == "assistant"]
    assert replies == ["re: one", "re: two", "re: three"]
    assert [(e.role, e.turn) for e in page.entries] == [
        ("user", 1),
        ("user", 2),
        ("user", 3),
        ("assistant", 1),
        ("assistant", 2),
        ("assistant", 3),
    ] or [e.turn for e in page.entries if e.role == "assistant"] == [1, 2, 3]
    # Each turn's request holds the conversation so far: the third one saw the first two answers.
    assert "re: two" in str(model.requests[2].messages)
    assert result.turns == 3 and result.last_reply == "re: three" and result.outcome == "closed"


async def test_a_steer_reaches_the_running_turns_next_model_step(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    model = ScriptedModel(
        [
            # The first step is slow, so the steer arrives while it runs.
            {
                "match": {"turn": 0},
                "reply": {
                    "tool_calls": [{"name": "calculator", "input": {"expression": "2+2"}}],
                    "delay_s": 1.5,
                },
            },
            {"match": {"contains": "in euros"}, "reply": {"text": "4 euros"}},
            {"reply": {"text": "4"}},
        ]
    )
    async with kit_worker(workflows=[SessionWorkflow], model=model) as worker:
        handle = await start(kit_env.client, worker.task_queue, tools=["calculator"])
        await say(handle, "what is 2+2?")
        await until(handle, lambda page: page.phase == "thinking")
        steer = await say(handle, "answer in euros", mode="steer")
        page = await until(handle, answered(1))
        await close(kit_env.client, handle)
    assert steer.taken_as == "steer" and steer.turn == 1
    assert len(model.requests) == 2  # the steer joined turn 1: no turn of its own
    assert "answer in euros" in last_user_texts(model.requests[1])
    assert page.entries[-1].text == "4 euros" and page.entries[-1].turn == 1


async def test_an_interrupt_cancels_a_slow_model_call_and_starts_the_next_turn(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    model = ScriptedModel(
        [
            # The interrupting message joins the cut-off one (the conversation's last user message).
            {"match": {"contains": "stop"}, "reply": {"text": "stopped"}},
            {"match": {"contains": "write an essay"}, "reply": {"text": "never finished", "delay_s": 60}},
        ]
    )
    async with kit_worker(workflows=[SessionWorkflow], model=model) as worker:
        handle = await start(kit_env.client, worker.task_queue)
        await say(handle, "write an essay")
        await until(handle, lambda page: page.phase == "thinking")
        interrupt = await say(handle, "stop", mode="interrupt")
        page = await until(handle, answered(1), timeout_s=20)
        status = await handle.query("status", result_type=WorkflowStatus)
        await close(kit_env.client, handle)
    assert interrupt.taken_as == "interrupt" and interrupt.turn == 2
    outcomes = {e.turn: e.turn_outcome for e in page.entries if e.turn_outcome}
    assert outcomes == {1: "interrupted", 2: "answered"}
    assert "never finished" not in [e.text for e in page.entries]
    assert page.entries[-1].text == "stopped"
    # The cut-off turn left the conversation on the user's side: the next message joined it, so
    # roles still alternate (as every provider expects).
    roles = [message.role for message in model.requests[-1].messages]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles
    cancelled = [s for s in status.completed_steps if s.step == "turn 1 step 1"]
    assert cancelled and not cancelled[0].ok  # recorded as a failed (cancelled) model step


async def test_an_interrupt_withdraws_a_pending_approval_and_the_call_never_runs(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    arguments = {"url": "https://hooks.example/pay", "payload": {"amount": 100}}
    model = ScriptedModel(
        [
            {
                "match": {"contains": "pay it"},
                "reply": {"tool_calls": [{"name": "send_webhook", "input": arguments}]},
            },
            {"match": {"contains": "cancel"}, "reply": {"text": "cancelled"}},
        ]
    )
    async with kit_worker(workflows=[SessionWorkflow], model=model) as worker:
        handle = await start(kit_env.client, worker.task_queue, tools=["send_webhook"], approvers=["ana"])
        await say(handle, "pay it")
        pending = await wait_for_approval(handle)
        assert "hooks.example/pay" in pending.action
        await say(handle, "cancel that", mode="interrupt")
        page = await until(handle, answered(1))
        status = await handle.query("status", result_type=WorkflowStatus)
        await close(kit_env.client, handle)
    [decision] = status.decisions
    assert (decision.approved, decision.via, decision.approver) == (False, "withdrawn", "withdrawn")
    assert status.pending_approval is None
    roles = [message.role for message in model.requests[-1].messages]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles
    tool_entries = [e for e in page.entries if e.role == "tool"]
    assert tool_entries and tool_entries[0].tool_results[0]["is_error"]
    assert {e.turn: e.turn_outcome for e in page.entries if e.turn_outcome} == {
        1: "interrupted",
        2: "answered",
    }


async def test_an_idle_session_closes_itself(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    async with kit_worker(workflows=[SessionWorkflow]) as worker:
        handle = await start(kit_env.client, worker.task_queue, idle_timeout_s=3600, first_message="hello")
        result = await handle.result()  # the test server skips the idle hour
    assert result.outcome == "idle_timeout" and result.turns == 1 and result.last_reply


async def test_the_idle_timeout_counts_from_the_last_turn_with_one_timer_for_many_turns(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    # The idle clock's timer, set when the session first went idle, fires an hour later while the
    # session has been idle only since its last turn: it is set again for the rest, not closing early.
    async with kit_worker(workflows=[SessionWorkflow]) as worker:
        handle = await start(kit_env.client, worker.task_queue, idle_timeout_s=3600)
        for n in range(3):
            await say(handle, f"message {n}")
            await until(handle, answered(n + 1))
        await kit_env.sleep(1800)
        await say(handle, "half an hour later")
        await until(handle, answered(4))
        await kit_env.sleep(2400)  # past the first timer, 40 minutes after the last turn
        assert (await transcript(handle)).phase == "idle"  # still open
        result = await handle.result()  # closes an hour after the last turn
    assert result.outcome == "idle_timeout" and result.turns == 4
    history = await handle.fetch_history()
    timers = [e.event_type for e in history.events if e.event_type in TIMER_EVENTS]
    # The first timer, and one set again for the rest after it fired early; none cancelled per turn.
    assert timers.count(EventType.EVENT_TYPE_TIMER_STARTED) == 2, timers
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in timers


async def test_turns_change_no_search_attribute_while_the_session_is_open(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    # AiPhase is "open" while the session waits or answers (status keeps idle/thinking): each upsert
    # is a history event and an index write on the server, which cost more than the rest of a turn.
    async with kit_worker(workflows=[SessionWorkflow]) as worker:
        handle = await start(kit_env.client, worker.task_queue)
        for n in range(3):
            await say(handle, f"message {n}")
            await until(handle, answered(n + 1))
        assert (await handle.describe()).typed_search_attributes.get(PHASE) == "open"
        await close(kit_env.client, handle)
    upserts = upserted_keys(await handle.fetch_history())
    # "open" when it starts (with the tenant, in one upsert), "closed" when it ends: none for the turns
    # between.
    assert [keys for keys in upserts if PHASE.name in keys] == [
        [COST_USD.name, PHASE.name, TENANT.name],
        [COST_USD.name, PHASE.name],
    ], upserts


async def test_continue_as_new_keeps_the_conversation(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    model = ScriptedModel(
        [{"match": {"contains": m}, "reply": {"text": f"re: {m}"}} for m in ("a", "b", "c")]
    )
    async with kit_worker(workflows=[SessionWorkflow], model=model) as worker:
        handle = await start(kit_env.client, worker.task_queue, continue_as_new_after_turns=1)
        for text in ("a", "b", "c"):
            await say(handle, text)
        page = await until(handle, answered(3))
        result = await close(kit_env.client, handle)
        described = await kit_env.client.get_workflow_handle(handle.id).describe()
        latest = kit_env.client.get_workflow_handle(handle.id, run_id=described.run_id)
        started = (await latest.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert [e.text for e in page.entries if e.role == "assistant"] == ["re: a", "re: b", "re: c"]
    assert "re: a" in str(model.requests[2].messages)  # the third turn, in a later run, saw the first
    assert result.turns == 3 and described.run_id != handle.first_execution_run_id
    # The conversation went through the payload store: the next run's input names it by digest only.
    carried = json.loads(started.input.payloads[0].data)["carried"]
    assert len(carried["conversation"]) == 64 and carried["messages"] == [] and carried["seal"]
    assert b"re: a" not in started.input.payloads[0].data


async def test_send_refuses_empty_oversized_and_closed(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    model = ScriptedModel([{"reply": {"text": "slowly", "delay_s": 2}}])
    async with kit_worker(workflows=[SessionWorkflow], model=model) as worker:
        handle = await start(kit_env.client, worker.task_queue)
        for text, reason in (("   ", "needs text"), ("x" * (32 * 1024 + 1), "at most 32768")):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await say(handle, text)
            assert reason in str(refused.value.cause)
        await say(handle, "hello")
        await until(handle, lambda page: page.phase == "thinking")
        await handle.execute_update("close", {"reason": "bye"})  # the running turn still ends
        with pytest.raises(WorkflowUpdateFailedError) as closed:
            await say(handle, "anyone?")
        result = await handle.result()
    assert "the session is closed (bye)" in str(closed.value.cause)
    assert result.outcome == "closed" and result.reason == "bye" and result.last_reply == "slowly"


async def test_a_close_during_continue_as_new_ends_the_session(
    kit_env: WorkflowEnvironment, kit_worker: KitWorkerFactory
) -> None:
    """`close` sent the moment a turn is answered lands while the session hands its state to the
    next run (continue-as-new after every turn): it must end the session, not be left behind."""
    async with kit_worker(workflows=[SessionWorkflow]) as worker:
        for attempt in range(3):
            handle = await start(kit_env.client, worker.task_queue, continue_as_new_after_turns=1)
            await say(handle, f"hello {attempt}")
            await until(handle, answered(1))
            await handle.execute_update("close", {"reason": "right away"})
            result = await asyncio.wait_for(result_of_latest_run(kit_env.client, handle), 20)
            assert result.outcome == "closed" and result.reason == "right away", attempt
