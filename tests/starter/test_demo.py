"""`python -m starter demo` with the approval step: asks a person at a terminal (a real pty here),
approves as the `demo` reviewer without one; then the short session: three turns that remember, and a
steer. Against the dev server with the demo's own worker process."""

from __future__ import annotations

import os
import pty
import re
from itertools import pairwise

from temporalio.client import Client

from starter.demo import DEMO_CONVERSATION, DEMO_STEER, ask_person
from tests.starter.cli import cli_env, run_cli
from workflows.models import PendingApproval


def test_ask_person_repeats_until_yes_or_no(capsys) -> None:
    answers = iter(["maybe", " YES ", "  ship it "])
    pending = PendingApproval.model_validate(
        {
            "action": "Deliver the report",
            "action_hash": "a" * 64,
            "requested_at": "2025-01-01T00:00:00Z",
            "deadline": "2025-01-02T00:00:00Z",
        }
    )
    decision = ask_person(pending, read=lambda prompt: next(answers))
    assert (decision.approved, decision.comment) == (True, "ship it")
    out = capsys.readouterr().out
    assert "Deliver the report" in out and out.count("please answer y or n") == 1


async def test_demo_without_terminal_approves_as_demo(dev_client: Client, task_queue: str) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    run = await run_cli("demo", env=env)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "using the Temporal server already running" in out
    assert "phase: awaiting_approval - waiting for approval of: Deliver the research report" in out
    assert "no terminal to ask: approving as the 'demo' reviewer" in out
    assert "approved by demo at " in out and "outcome: completed" in out and "[offline model]" in out
    workflow_id = out.split("started ", 1)[1].split()[0]
    assert f"Web UI: http://localhost:8233/namespaces/default/workflows/{workflow_id}" in out
    assert_short_session(out.split("started session ", 1)[1])


def assert_short_session(out: str) -> None:
    """Three queued turns, each reply quoting the message before; the steer joined the third turn
    or, when it came after the turn had ended, was a fourth."""
    for number, text in enumerate(DEMO_CONVERSATION, start=1):
        assert re.search(
            rf"say: {re.escape(text)}\n  message \d+, turn {number} \(taken as queue\)\n", out
        ), out
    steered = re.search(r"steer: .*\n  message \d+, turn (\d) \(taken as (steer|queue)\): (.*)\n", out)
    assert steered is not None, out
    turn, taken_as, said = steered.groups()
    assert (turn, said) == (
        ("3", "it joined the running turn")
        if taken_as == "steer"
        else ("4", "the turn had ended: a turn of its own")
    )
    transcript = out.split("the transcript:\n", 1)[1]
    for before, text in pairwise(DEMO_CONVERSATION):
        assert f"You said earlier: {before!r}. About {text!r}" in transcript
    assert f"About {DEMO_STEER!r}" in transcript and f"    turn {turn}: answered\n" in transcript
    assert f"outcome: closed  turns: {turn}  reason: end of the demo" in out


async def test_demo_in_a_terminal_asks_the_person(dev_client: Client, task_queue: str) -> None:
    env = cli_env(dev_client.service_client.config.target_host, task_queue)
    controller, terminal = pty.openpty()
    try:
        # Typed ahead: the terminal holds the lines until the demo reads them at its prompts.
        os.write(controller, b"n\ntoo vague\n")
        run = await run_cli("demo", env=env, stdin_fd=terminal)
    finally:
        os.close(controller)
        os.close(terminal)
    assert run.returncode == 0, run.stderr
    assert "The run asks for approval:" in run.stdout and "no terminal" not in run.stdout
    assert "rejected by demo at " in run.stdout and run.stdout.count("too vague") >= 1
    assert "outcome: rejected" in run.stdout
