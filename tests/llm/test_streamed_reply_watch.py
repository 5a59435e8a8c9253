"""`python -m starter watch` / `--wait` (`starter.__main__.follow`) print a streamed reply's text as
it arrives, inline under a `reply STEP:` head, and print runs without streamed replies as before."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client

from common.contracts.llm import LLMRequest, Message, ReplyChunk
from common.settings import Settings
from starter import render
from starter.__main__ import follow
from starter.watch import PhaseChanged, ReplyStreamed, RunEnded, StepCompleted
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Reply
from tests.llm.test_streamed_reply import LONG_REPLY, StreamedReplyWorkflow
from worker.app import build_worker
from workflows.models import StepRecord


def reply(text: str, seq: int, attempt: int = 1, step: str = "chat 1") -> ReplyStreamed:
    return ReplyStreamed(chunk=ReplyChunk(step=step, text=text, seq=seq, attempt=attempt))


def test_reply_text_is_inline_and_each_other_event_is_its_line() -> None:
    step = StepCompleted(step=StepRecord(step="chat 1", kind="llm", model="m"))
    events = [
        PhaseChanged(phase="running"),
        reply("Hel", 0),
        reply("lo", 1),
        reply("Hello", 0, attempt=2),  # the retried attempt starts over
        reply(" world", 1, attempt=2),
        step,
        RunEnded(status="COMPLETED"),
    ]
    shown = render.ProgressText()
    assert "".join(shown.text(event) for event in events) == (
        "phase: running\n"
        "  reply chat 1: Hello\n"
        "  reply chat 1 (attempt 2): Hello world\n"
        f"{render.event_line(step)}\n"
        "run ended: completed\n"
    )


def test_a_run_without_streamed_replies_prints_as_before() -> None:
    events = [PhaseChanged(phase="running"), RunEnded(status="COMPLETED")]
    shown = render.ProgressText()
    assert [shown.text(event) for event in events] == [render.event_line(e) + "\n" for e in events]


async def test_follow_prints_the_reply_as_it_streams(
    dev_client: Client,
    anthropic_settings: Settings,
    anthropic_server: AnthropicServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    anthropic_server.event_interval_s = 0.005  # still streaming when `follow` subscribes
    anthropic_server.script(Reply.text(LONG_REPLY))
    request = LLMRequest(messages=[Message.user_text("hi")], step="chat 1", stream_reply=True)
    async with build_worker(dev_client, anthropic_settings, workflows=[StreamedReplyWorkflow]):
        handle = await dev_client.start_workflow(
            StreamedReplyWorkflow.run,
            request,
            id=f"followed-reply-{uuid.uuid4().hex[:10]}",
            task_queue=anthropic_settings.temporal_task_queue,
        )
        assert await follow(dev_client, handle.id) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"  reply chat 1: {LONG_REPLY}\nrun ended: completed\n"), printed[:300]
