"""What a provider takes from the activity it runs in: step labels and the read timeout."""

from __future__ import annotations

from datetime import timedelta

from activities.llm.call_context import (
    STEP_HEADER,
    STEP_KIND_HEADER,
    CallContext,
    StreamProgress,
    StreamWindows,
)
from tests.llm.harness import simple_request


def test_outside_an_activity_the_context_is_neutral() -> None:
    context = CallContext.current()
    assert context == CallContext(workflow_id="", heartbeat_timeout=None)
    assert context.read_timeout(600.0) == 600.0


def test_step_headers_are_safe_header_values() -> None:
    context = CallContext(workflow_id="run-ü\n1", heartbeat_timeout=None)
    headers = context.headers(simple_request(step="research 1", step_kind="research"))
    assert headers == {STEP_HEADER: "run-??1/research 1", STEP_KIND_HEADER: "research"}
    long = context.headers(simple_request(step="x" * 1000))
    assert len(long[STEP_HEADER]) == 256


def test_read_timeout_outlasts_the_heartbeat_timeout() -> None:
    context = CallContext(workflow_id="w", heartbeat_timeout=timedelta(seconds=30))
    assert context.read_timeout(600.0) == 90.0  # Temporal notices a stall first (< 1.8 x 30 s)
    assert context.read_timeout(60.0) == 60.0


def test_with_stream_windows_the_read_timeout_outlasts_the_longer_window() -> None:
    windows = StreamWindows(first_byte_s=60.0, stall_s=30.0)
    context = CallContext(workflow_id="w", heartbeat_timeout=timedelta(seconds=2), windows=windows)
    assert context.read_timeout(600.0) == 66.0  # a slow first token is not cut off by the backstop
    assert context.read_timeout(30.0) == 30.0


def test_progress_gate_first_byte_then_stall_window() -> None:
    progress = StreamProgress(StreamWindows(first_byte_s=10.0, stall_s=2.0), started=100.0)
    assert progress.is_progressing(now=109.0)  # waiting for the first token, within its window
    assert not progress.is_progressing(now=110.5)  # no first token in time: stalled
    progress.last_event = 109.5
    assert progress.is_progressing(now=111.0)  # streaming: the stall window counts from the last event
    assert not progress.is_progressing(now=111.6)
