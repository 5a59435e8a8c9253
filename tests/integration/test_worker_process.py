"""End to end: a real `python -m worker` process against the dev server."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from common.devserver import start_dev_server, stop_process, wait_for_port
from starter import api
from tests.binaries import TEMPORAL_CLI
from tests.chaos.processes import clean_environment, free_port
from workflows.models import ResearchInput


@pytest.fixture
def worker_process(dev_server_env: WorkflowEnvironment, task_queue: str) -> Iterator[subprocess.Popen[str]]:
    target = dev_server_env.client.service_client.config.target_host
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": target,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "LLM_PROVIDER": "offline",
        "WORKER_GRACEFUL_SHUTDOWN_S": "5",
    }
    process = subprocess.Popen([sys.executable, "-m", "worker"], env=env, stderr=subprocess.PIPE, text=True)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


async def test_research_through_worker_process_then_graceful_stop(
    dev_client: Client, worker_process: subprocess.Popen[str], task_queue: str
) -> None:
    handle = await api.start_research(
        dev_client, ResearchInput(topic="lighthouses", max_subtopics=2), task_queue=task_queue
    )
    result = await handle.result()
    assert len(result.subtopics) == 2 and "[offline model]" in result.report

    worker_process.send_signal(signal.SIGTERM)
    _, stderr = worker_process.communicate(timeout=30)
    assert worker_process.returncode == 0, stderr
    [listed] = [line for line in stderr.splitlines() if "registered workflows: " in line]
    registered = set(listed.split("registered workflows: ")[1].split(", "))
    assert {"AgentWorkflow", "AnswerWorkflow", "IndexWorkflow", "ResearchWorkflow"} <= registered
    assert "stopped" in stderr


def test_a_plugin_that_fails_to_load_stops_the_worker_with_one_line(tmp_path) -> None:
    env = {
        **os.environ,
        "WORKER_PLUGINS": "no_such_package.plugin:extension",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "WORKER_PLUGINS entry 'no_such_package.plugin:extension' failed to load" in errors[0]
    assert "ModuleNotFoundError" in errors[0]


def test_worker_exits_nonzero_when_temporal_is_unreachable(tmp_path) -> None:
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1", "TEMPORAL_CONNECT_TIMEOUT_S": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "127.0.0.1:1" in result.stderr and "unreachable" in result.stderr


async def test_worker_refuses_a_namespace_without_the_search_attributes(tmp_path) -> None:
    """Workflows upsert the project's search attributes; on a server without them every workflow
    task would fail and retry forever, so the worker says what to register and exits."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(TEMPORAL_CLI), ui=False)
    async with env:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "worker"],
            env={
                **os.environ,
                "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                "LLM_PROVIDER": "offline",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1, result.stderr
    assert "lacks the search attributes AiPhase, AiCostUsd" in result.stderr
    assert "temporal operator search-attribute create --name AiPhase --type Keyword" in result.stderr


# -- `make up` / `make server` stop their children on SIGTERM, as on Ctrl-C -------------------------


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def read_until(stream: asyncio.StreamReader, text: str, seen: list[str], timeout_s: float = 90) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"exited before {text!r}:\n" + "".join(seen[-30:]))
            seen.append(line)
            if text in line:
                return


async def stopped_by_sigterm(
    module: str, ready_line: str, cwd: Path, env: dict[str, str], port: int
) -> tuple[int, set[int], list[str], str]:
    """Runs `python -m module --port ...` until `ready_line` in its output, starts a run on its dev
    server, SIGTERMs it, and returns its exit status, the processes it had started, its output and
    the run's id."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "--port",
        str(port),
        "--ui-port",
        str(free_port()),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    seen: list[str] = []
    try:
        assert process.stdout is not None
        await read_until(process.stdout, ready_line, seen)
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
        workflow_id = await start_a_run(port)
        started = descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(process.stdout.read(), 90)
        seen += rest.decode().splitlines(True)
        status = await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            for pid in descendants(process.pid):
                os.kill(pid, signal.SIGKILL)
            process.kill()
            await process.wait()
    return status, started, seen, workflow_id


async def connected(port: int, within_s: float = 30.0) -> Client:
    """A client of the dev server on `port` once its frontend serves: the port opens before the
    frontend is healthy, and a connection in between is refused ("Frontend is not healthy yet")."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            return await Client.connect(f"127.0.0.1:{port}")
        except RuntimeError as error:
            if "not healthy" not in str(error) or asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.2)  # polling the frontend's health, with a deadline


async def start_a_run(port: int) -> str:
    """A run nobody works on: it must still be there after the server's restart."""
    client = await connected(port)
    workflow_id = f"kept-{uuid.uuid4().hex[:8]}"
    await client.start_workflow("NoWorkerForThis", id=workflow_id, task_queue="nobody-polls")
    return workflow_id


async def assert_state_survives(cwd: Path, workflow_id: str) -> None:
    """The dev server's SQLite file is intact and a server started on it again still has the run."""
    with sqlite3.connect(cwd / ".state" / "temporal.sqlite3") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    port = free_port()
    again = start_dev_server(port=port, ui_port=None, state_dir=cwd / ".state")
    try:
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
        client = await connected(port)
        description = await client.get_workflow_handle(workflow_id).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
    finally:
        await asyncio.to_thread(stop_process, again)


async def test_make_server_stops_its_dev_server_on_sigterm(tmp_path: Path) -> None:
    status, started, output, workflow_id = await stopped_by_sigterm(
        "common.devserver", "Temporal dev server on", tmp_path, clean_environment({}), free_port()
    )
    assert started, "the dev server is a child process"
    assert [pid for pid in started if alive(pid)] == [], "".join(output[-30:])
    assert status == 0
    await assert_state_survives(tmp_path, workflow_id)


async def test_make_up_stops_its_worker_and_dev_server_on_sigterm(tmp_path: Path) -> None:
    env = clean_environment(
        {"LLM_PROVIDER": "offline", "WORKER_GRACEFUL_SHUTDOWN_S": "5", "OTEL_SDK_DISABLED": "true"}
    )
    status, started, output, workflow_id = await stopped_by_sigterm(
        "worker.up", "worker running", tmp_path, env, free_port()
    )
    assert len(started) >= 2, "the dev server and the worker are child processes"
    assert [pid for pid in started if alive(pid)] == [], "".join(output[-30:])
    assert status == 0
    assert any("stopped" in line for line in output), "the worker shut down gracefully"
    await assert_state_survives(tmp_path, workflow_id)
