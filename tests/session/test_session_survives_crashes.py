"""A session through real processes: `SessionWorkflow` on its own dev server (SQLite state), a real
`python -m worker` whose model is the local Anthropic server. The worker is SIGKILLed while a turn's
second model call is in flight and a replacement finishes the turn; then the dev server is stopped
and started again on the same state file, and the conversation goes on. No completed model step is
requested again, the one in flight is requested once more (the retry a crash costs), and the
session's cost counts each completed step once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from activities.llm.models import ToolUseBlock, Usage
from common.converter import build_data_converter
from common.settings import try_load_settings
from tests.chaos.processes import DevServer, ReplaceableWorker, clean_environment
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Reply, Stall
from workflows.kit import (
    SendRequest,
    SendResult,
    SessionInput,
    SessionResult,
    TranscriptPage,
    TranscriptQuery,
)
from workflows.session import SessionWorkflow

pytestmark = pytest.mark.timeout(120)

T = TypeVar("T")

# Each completed model call reports its own usage, so a step counted twice shows in the totals.
ASKED_TOOL = Reply(
    content=[ToolUseBlock(id="toolu_calc", name="calculator", input={"expression": "2+2"})],
    stop_reason="tool_use",
    usage=Usage(input_tokens=1000, output_tokens=10),
)
ANSWERED = Reply.text("2 + 2 is 4.", usage=Usage(input_tokens=1200, output_tokens=20))
STILL_HERE = Reply.text("Yes: 4, as before.", usage=Usage(input_tokens=1500, output_tokens=30))
# The attempt the kill cuts off: its stream has started (two events sent), its end never comes.
CUT_OFF = Stall(
    after_events=2, reply=Reply.text("never sent", usage=Usage(input_tokens=9999, output_tokens=99))
)


async def test_a_session_survives_a_worker_sigkill_mid_turn_and_a_server_restart(
    anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    anthropic_server.script(ASKED_TOOL, step="turn 1 step 1")
    anthropic_server.script(CUT_OFF, ANSWERED, step="turn 1 step 2")
    anthropic_server.script(STILL_HERE, step="turn 2 step 1")
    payloads = tmp_path / "payloads"
    server = DevServer(tmp_path)
    await server.start()
    try:
        env = clean_environment(
            {
                "TEMPORAL_ADDRESS": server.address,
                "TEMPORAL_TASK_QUEUE": f"session-crash-{uuid.uuid4().hex[:8]}",
                "TEMPORAL_CONNECT_TIMEOUT_S": "60",
                "LLM_PROVIDER": "anthropic",
                "ANTHROPIC_API_KEY": "test",
                "ANTHROPIC_BASE_URL": anthropic_server.base_url,
                "PAYLOAD_STORE_DIR": str(payloads),
                "DEDUPE_LEDGER_PATH": str(tmp_path / "dedupe-ledger.sqlite3"),
                "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                "OTEL_SDK_DISABLED": "true",
            }
        )
        converter = build_data_converter(
            try_load_settings(llm_provider="offline", payload_store_dir=payloads, _env_file=None)
        )
        client = await Client.connect(server.address, data_converter=converter)
        async with ReplaceableWorker(env, tmp_path, release=anthropic_server.release) as worker:
            handle = await client.start_workflow(
                SessionWorkflow.run,
                SessionInput(tools=["calculator"]),
                id=f"session-crash-{uuid.uuid4().hex[:8]}",
                task_queue=env["TEMPORAL_TASK_QUEUE"],
            )
            await say(handle, "what is 2+2?")
            # Step 1 (the tool call) completed and the tool ran; step 2 is in flight, held.
            assert await asyncio.to_thread(anthropic_server.wait_until_stalled, 60.0)
            await worker.kill()
            worker.replace()
            await until(handle, answered(1))

            await server.stop()
            await server.start()
            sent = await riding_out_restart(lambda: say(handle, "are you still there?"))
            page = await riding_out_restart(lambda: until(handle, answered(2)))
            await handle.execute_update("close", {"reason": "done"})
            result = await handle.result()

    finally:
        await server.stop()

    # The model: the completed step was not asked again, the cut-off one exactly once more.
    per_step = {step.rsplit("/", 1)[-1]: n for step, n in anthropic_server.requests_per_step().items()}
    assert per_step == {"turn 1 step 1": 1, "turn 1 step 2": 2, "turn 2 step 1": 1}

    # The conversation: both turns, every message, answered, after the kill and the restart.
    assert sent.turn == 2
    assert [(e.role, e.turn, e.text) for e in page.entries] == [
        ("user", 1, "what is 2+2?"),
        ("assistant", 1, ""),
        ("tool", 1, ""),
        ("assistant", 1, "2 + 2 is 4."),
        ("user", 2, "are you still there?"),
        ("assistant", 2, "Yes: 4, as before."),
    ]
    assert page.entries[1].tool_calls[0]["name"] == "calculator"
    assert page.entries[2].tool_results[0]["content"] == "4"
    assert [e.turn_outcome for e in page.entries if e.turn_outcome] == ["answered", "answered"]

    # The bill: each completed model step once, with the usage its one completed request reported.
    assert result.turns == 2 and result.last_reply == "Yes: 4, as before." and result.outcome == "closed"
    llm_steps = {step.step: step for step in result.steps if step.kind == "llm"}
    assert sorted(llm_steps) == ["turn 1 step 1", "turn 1 step 2", "turn 2 step 1"]
    completed = [ASKED_TOOL, ANSWERED, STILL_HERE]
    # The cut-off attempt counts too when its usage (Anthropic's message_start: billed input) was
    # heartbeated before the SIGKILL, and then exactly once; whether the heartbeat beat the kill is
    # the machine's timing, so both are right, never more.
    cut = llm_steps["turn 1 step 2"]
    assert (cut.retried_input_tokens, cut.retried_output_tokens) in ((0, 0), (9999, 1)), cut
    assert result.usage.input_tokens == (
        sum(r.usage.input_tokens for r in completed if r.usage) + cut.retried_input_tokens
    )
    assert result.usage.output_tokens == (
        sum(r.usage.output_tokens for r in completed if r.usage) + cut.retried_output_tokens
    )
    assert llm_steps["turn 1 step 1"].retried_attempts == 0
    assert (
        result.cost_usd == pytest.approx(sum(step.cost_usd for step in result.steps)) and result.cost_usd > 0
    )


async def say(handle: WorkflowHandle[Any, Any], text: str) -> SendResult:
    return await handle.execute_update("send", SendRequest(text=text), result_type=SendResult)


async def transcript(handle: WorkflowHandle[Any, SessionResult]) -> TranscriptPage:
    return await handle.query("transcript", TranscriptQuery(after=0), result_type=TranscriptPage)


def answered(turns: int) -> Callable[[TranscriptPage], bool]:
    return lambda page: sum(1 for e in page.entries if e.turn_outcome == "answered") >= turns


async def until(
    handle: WorkflowHandle[Any, SessionResult],
    condition: Callable[[TranscriptPage], bool],
    timeout_s: float = 30.0,
) -> TranscriptPage:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        page = await transcript(handle)
        if condition(page):
            return page
        assert loop.time() < deadline, f"the transcript never matched: {page.model_dump_json()[:800]}"
        await asyncio.sleep(0.1)


async def riding_out_restart(call: Callable[[], Awaitable[T]], timeout_s: float = 30.0) -> T:
    """`call`, again while the restarted server is not answering yet (RPCError), up to a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            return await call()
        except RPCError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)
