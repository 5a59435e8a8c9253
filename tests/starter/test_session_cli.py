"""Sessions from the command line, as a user runs them: a real `python -m worker` (the scripted model:
one slow rule, so a steer lands while a turn runs, and rules that call tools) on the dev server, and
`python -m starter session / say / chat` as subprocesses; `chat` in a pseudo-terminal, typed at
and interrupted with Ctrl-C like a person would."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from starter import api
from tests.chaos.processes import WorkerProcess, clean_environment
from tests.starter.cli import cli_env, run_cli

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
SLOW_REPLY = "Taking my time over this one."
# Unmatched session requests get the offline model's session reply, labelled `[scripted model]`.
SCRIPT = [
    {
        "name": "slow",
        "match": {"step_kind": "session", "contains": "slowly"},
        "reply": {"text": SLOW_REPLY, "delay_s": 8.0},  # longer than a CLI start on a busy machine
    },
    {
        "name": "compute",
        "match": {"step_kind": "session", "contains": "compute"},
        "reply": {"tool_calls": [{"name": "calculator", "input": {"expression": "6 * 7"}}]},
    },
    {
        "name": "notify",
        "match": {"step_kind": "session", "contains": "notify"},
        "reply": {
            "tool_calls": [
                {"name": "send_webhook", "input": {"url": "https://hooks.example.com/t", "payload": {"a": 1}}}
            ]
        },
    },
]


@dataclass
class Setup:
    client: Client
    env: dict[str, str]  # the starter's environment


@pytest_asyncio.fixture
async def scripted(
    dev_server_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Setup]:
    address = dev_server_env.client.service_client.config.target_host
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    state = {
        "WORKER_LEASE_DIR": str(tmp_path / "workers"),
        "DEDUPE_LEDGER_PATH": str(tmp_path / "ledger.sqlite3"),
        "INDEX_PATH": str(tmp_path / "index.sqlite3"),
        "RUN_STATE_KEY_FILE": str(tmp_path / "run-state.key"),
        "PAYLOAD_STORE_DIR": str(tmp_path / "payloads"),
    }
    worker = WorkerProcess(
        clean_environment(
            {
                "TEMPORAL_ADDRESS": address,
                "TEMPORAL_TASK_QUEUE": task_queue,
                "LLM_PROVIDER": "scripted",
                "LLM_SCRIPT_FILE": str(script),
                "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                **state,
            }
        ),
        REPO,
    )
    try:
        await worker.wait_ready()
        env = {**cli_env(address, task_queue), "PAYLOAD_STORE_DIR": state["PAYLOAD_STORE_DIR"]}
        yield Setup(dev_server_env.client, env)
    finally:
        await worker.stop()


async def until_phase(client: Client, workflow_id: str, phase: str, timeout_s: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (status := await api.get_status(client, workflow_id)).phase != phase:
        assert loop.time() < deadline, f"never {phase}: {status.phase}"
        await asyncio.sleep(0.05)  # a poll interval: the session moves on its own


async def test_session_say_wait_steer_and_refusals(scripted: Setup) -> None:
    workflow_id = f"session-cli-{uuid.uuid4().hex[:8]}"
    started = await run_cli(
        "session", "--id", workflow_id, "--first-message", "My name is Ana", env=scripted.env
    )
    assert (started.returncode, started.stdout) == (0, f"{workflow_id}\n"), started.stderr

    asked = await run_cli("say", workflow_id, "What is my name?", "--as", "ana", "--wait", env=scripted.env)
    assert asked.returncode == 0, asked.stderr
    lines = asked.stdout.splitlines()
    assert re.fullmatch(r"message \d+, turn 2 \(taken as queue\)", lines[0]), lines
    # The reply remembers the first message of the conversation, and the turn's outcome follows it.
    assert "You said earlier: 'My name is Ana'. About 'What is my name?'" in asked.stdout
    assert lines[-1] == "turn 2: answered"

    slow = await run_cli("say", workflow_id, "Answer slowly please", env=scripted.env)
    assert re.fullmatch(r"message \d+, turn 3 \(taken as queue\)\n", slow.stdout), slow.stdout
    await until_phase(scripted.client, workflow_id, "thinking")
    steered = await run_cli("say", workflow_id, "in French", "--mode", "steer", "--wait", env=scripted.env)
    assert steered.returncode == 0, steered.stderr
    first, *reply = steered.stdout.splitlines()
    assert re.fullmatch(r"message \d+, turn 3 \(taken as steer\)", first), first
    # The turn's reply: the slow step's, then the next step's, which saw the steer.
    assert SLOW_REPLY in reply[0] and "About 'in French'" in reply[1], reply
    assert reply[-1] == "turn 3: answered"

    cases = [
        (("say", workflow_id, "  "), f"error: {workflow_id}: message refused: a message needs text"),
        (("say", "no-such-session", "hello"), "error: no workflow with id 'no-such-session'"),
        (("session", "--tools", "no_such_tool"), "error: invalid input: "),
    ]
    for args, expected in cases:
        run = await run_cli(*args, env=scripted.env)
        assert run.returncode == 1, (args, run.stdout, run.stderr)
        assert run.stderr.startswith(expected) and run.stderr.count("\n") == 1, run.stderr
    await api.close_session(scripted.client, workflow_id, "done")
    closed = await run_cli("say", workflow_id, "anyone there?", env=scripted.env)
    assert closed.returncode == 1 and closed.stderr.count("\n") == 1, closed.stderr
    assert "message refused: the session is closed (done)" in closed.stderr or "has ended" in closed.stderr


class Terminal:
    """`python -m starter ARGS` with a pseudo-terminal as its controlling terminal: what it prints
    is collected (line ends as `\\n`); `type` is what a person types, `\\x03` included."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        argv = [sys.executable, "-m", "starter", *args]
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once
            try:
                os.chdir(REPO)
                os.execve(sys.executable, argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = ""
        self.mark = 0  # `expect` looks after here: what was already matched is not matched again
        self._changed = asyncio.Event()
        self._open = True
        asyncio.get_running_loop().add_reader(fd, self._on_output)

    def _on_output(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child has closed the terminal
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.fd)
            self._open = False
        self.output += data.decode(errors="replace").replace("\r\n", "\n")
        self._changed.set()

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    async def expect(self, predicate: str | Callable[[str], bool], timeout_s: float = 30) -> str:
        """Wait until the output after the mark holds `predicate` (a text, or a test of the
        output); the mark moves past it. Returns the output matched."""
        test = predicate if callable(predicate) else lambda out: predicate in out
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not test(self.output[self.mark :]):
            left = deadline - loop.time()
            assert left > 0 and self._open, (
                f"never printed {predicate!r}; printed:\n{self.output[self.mark :]}"
            )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass
        seen = self.output[self.mark :]
        end = seen.index(predicate) + len(predicate) if isinstance(predicate, str) else len(seen)
        self.mark += end
        return seen[:end]

    async def exit_code(self, timeout_s: float = 30) -> int:
        try:
            _, status = await asyncio.wait_for(asyncio.to_thread(os.waitpid, self.pid, 0), timeout_s)
        except TimeoutError:
            raise AssertionError(f"still running; printed:\n{self.output}") from None
        return os.waitstatus_to_exitcode(status)

    def close(self) -> None:
        if self._open:
            asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


async def test_chat_in_a_pseudo_terminal(scripted: Setup, task_queue: str) -> None:
    client = scripted.client
    handle = await client.start_workflow(
        api.SESSION_WORKFLOW,
        {"first_message": "My name is Ana", "tools": ["calculator", "send_webhook"], "approvers": ["ana"]},
        id=f"session-chat-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )
    await until_phase(client, handle.id, "idle")

    chat = Terminal(["chat", handle.id, "--as", "ana"], scripted.env)
    try:
        # The conversation so far, then the prompt.
        await chat.expect("[1] user: My name is Ana\n")
        await chat.expect("About 'My name is Ana'")
        await chat.expect("    turn 1: answered\n")
        await chat.expect("type a message, or /help")

        # A typed line is queued, and its reply is printed as the turn ends.
        chat.type("What is my name?\n")
        await chat.expect("(taken as queue)")
        await chat.expect("You said earlier: 'My name is Ana'. About 'What is my name?'")
        await chat.expect("    turn 2: answered")

        # Tool calls are shown as they happen, then their results.
        chat.type("please compute this\n")
        await chat.expect('assistant calls calculator {"expression": "6 * 7"}')
        await chat.expect("tool result: 42")
        await chat.expect("    turn 3: answered")

        # A side effect waits for approval: the action is shown in full, and /reject decides it.
        chat.type("notify the team\n")
        await chat.expect("waiting for approval of: ")
        await chat.expect("https://hooks.example.com/t")
        chat.type("/reject not now\n")
        await chat.expect(f"{handle.id}: rejected by ana at ")
        await chat.expect("    turn 4: answered")

        # /steer while a slow turn runs joins that turn; the next step sees it.
        chat.type("Answer slowly please\n")
        await chat.expect("turn 5 (taken as queue)")
        await until_phase(client, handle.id, "thinking")
        chat.type("/steer in French\n")
        await chat.expect("turn 5 (taken as steer)")
        await chat.expect(SLOW_REPLY)
        await chat.expect("About 'in French'")
        await chat.expect("    turn 5: answered")

        # Ctrl-C leaves; the session stays open.
        chat.type("\x03")
        await chat.expect("left the chat; the session stays open")
        assert await chat.exit_code() == 0
    finally:
        chat.close()
    status = await api.get_status(client, handle.id)
    assert status.phase == "idle" and status.outcome is None

    # Back in the chat: the whole conversation is printed again, and /close ends the session.
    again = Terminal(["chat", handle.id], scripted.env)
    try:
        await again.expect("ana (steer): in French")
        await again.expect("type a message, or /help")
        again.type("/close done for today\n")
        await again.expect("closing: the session ends after the running turn")
        await again.expect("the session has ended")
        await again.expect("reason: done for today")
        assert await again.exit_code() == 0
    finally:
        again.close()
    result = await api.get_result(client, handle.id)
    assert (result.outcome, result.reason, result.turns) == ("closed", "done for today", 5)
