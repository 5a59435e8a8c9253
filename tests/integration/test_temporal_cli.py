"""temporal CLI parity: the README's `temporal workflow ...` block, run as written with the `temporal`
binary against the dev server and a worker. Only the task queue, the workflow ids (made unique) and
`--address` change; every command's output is checked.

The worker's model is the offline model, with one difference: a session's first model step waits
until the README's steer has been sent, as a real model's slower step would, so the steer lands in
the running turn every time."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.base import Heartbeat
from activities.llm.providers.offline import OFFLINE_MODEL, OfflineProvider
from activities.tools.declare import registry
from common.contracts.llm import LLMRequest, ProviderReply
from common.settings import Settings
from tests.starter.runs import pending_approval
from worker.app import build_worker
from worker.plugin import product_activities

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- temporal-cli-parity"
TEMPORAL = str(Path(sys.executable).parent / "temporal")


def readme_commands() -> list[list[str]]:
    """The commands of the README block after the marker, continuation lines joined, comments dropped."""
    text = README.read_text()
    block = text[text.index(MARKER) :].split("```bash\n", 1)[1].split("```", 1)[0]
    joined = block.replace("\\\n", " ")
    return [
        shlex.split(line)
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


class HeldFirstSessionStep:
    """The offline model, whose first step of a session's first turn waits for `release` (and
    says it is waiting with `holding`)."""

    name = "offline"
    default_model = OFFLINE_MODEL

    def __init__(self) -> None:
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self._offline = OfflineProvider()

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        if request.step_kind == "session" and request.step == "turn 1 step 1":
            self.holding.set()
            await self.release.wait()
        return await self._offline.complete(request, model, heartbeat)


def worker_activities(settings: Settings, model: HeldFirstSessionStep) -> list[Callable[..., object]]:
    """The product's activities, the model's `llm.complete` on `model`."""

    def name(function: Callable[..., object]) -> str | None:
        return activity._Definition.must_from_callable(function).name

    llm = LLMActivities(model, PriceTable.load(settings.llm_pricing_file)).complete
    own = [a for a in product_activities(settings) if name(a) != name(llm)]
    return [llm, *own, *(tool.activity for tool in registry.all())]


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def json_field(output: str, label: str) -> Any:
    match = re.search(rf"^\s*{label}\s+(\{{.*\}})\s*$", output, re.MULTILINE)
    assert match, output
    return json.loads(match.group(1))


async def run(args: list[str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


def test_readme_block_has_every_command_kind() -> None:
    commands = [" ".join(args[:3]) for args in readme_commands()]
    for kind in (
        "temporal workflow start",
        "temporal workflow query",
        "temporal workflow update",
        "temporal workflow signal",
        "temporal workflow result",
        "temporal workflow show",
    ):
        assert kind in commands
    types = {option(args, "--type") for args in readme_commands() if args[2] == "start"}
    assert types == {"ResearchWorkflow", "AgentWorkflow", "SessionWorkflow"}
    updates = {option(args, "--name") for args in readme_commands() if args[2] == "update"}
    assert updates == {"approve", "send", "close"}


@pytest.mark.timeout(180)
async def test_readme_temporal_cli_commands(dev_client: Client, settings: Settings, task_queue: str) -> None:
    address = dev_client.service_client.config.target_host
    suffix = uuid.uuid4().hex[:8]
    outputs: dict[tuple[str, str], list[tuple[int, str]]] = {}
    model = HeldFirstSessionStep()
    async with build_worker(dev_client, settings, activities=worker_activities(settings, model)):
        for args in readme_commands():
            assert args[:2] == ["temporal", "workflow"], args
            args = [TEMPORAL, *args[1:], "--address", address]
            if "--task-queue" in args:
                args[args.index("--task-queue") + 1] = task_queue
            readme_id = option(args, "--workflow-id")
            assert readme_id is not None
            args[args.index("--workflow-id") + 1] = workflow_id = f"{readme_id}-{suffix}"
            command = args[2]
            if readme_id.startswith("research") and command in ("query", "update", "signal"):
                # Research runs ask for approval after synthesis; these commands act on that moment.
                await pending_approval(dev_client, workflow_id)
            steer = readme_id.startswith("session") and option(args, "--name") == "send"
            if steer:  # the first turn is under way: its first model step waits for the steer
                await asyncio.wait_for(model.holding.wait(), 60)
            outputs.setdefault((readme_id, command), []).append(await run(args))
            if steer:
                model.release.set()

    def one(readme_id: str, command: str, index: int = 0) -> str:
        code, output = outputs[(readme_id, command)][index]
        assert code == 0, output
        return output

    # ResearchWorkflow with the Update
    assert f"research-1-{suffix}" in one("research-1", "start") and "Running execution" in one(
        "research-1", "start"
    )
    status = json_field(one("research-1", "query"), "QueryResult")
    assert status["phase"] == "awaiting_approval" and status["pending_approval"]["approvers"] == ["ana"]
    refused_code, refused = outputs[("research-1", "update")][0]
    assert refused_code != 0 and "'mallory' is not an approver of this run" in refused
    accepted = one("research-1", "update", 1)
    assert "approver:ana" in accepted and "via:update" in accepted and "comment:looks good" in accepted
    result = json_field(one("research-1", "result"), "Result")
    assert result["outcome"] == "completed" and result["approval"]["approver"] == "ana"
    assert "[offline model]" in result["report"] and len(result["subtopics"]) == 2
    history = one("research-1", "show")
    # Only the accepted Update is in the history: the refused one left no trace.
    assert history.count("WorkflowExecutionUpdateAccepted") == 1
    assert history.count("WorkflowExecutionUpdateCompleted") == 1
    assert "WorkflowExecutionCompleted" in history

    # ResearchWorkflow with the Signal
    one("research-2", "signal")
    rejected = json_field(one("research-2", "result"), "Result")
    assert rejected["outcome"] == "rejected"
    assert (rejected["approval"]["approver"], rejected["approval"]["via"]) == ("ana", "signal")

    # AgentWorkflow
    answer = json_field(one("agent-1", "result"), "Result")
    assert answer["outcome"] == "completed" and str(17 * 23) in answer["answer"]
    agent_status = json_field(one("agent-1", "query"), "QueryResult")
    assert agent_status["phase"] == "completed"
    assert [s["kind"] for s in agent_status["completed_steps"]].count("tool") == 1
    assert one("agent-1", "show").count("ActivityTaskCompleted") == len(agent_status["completed_steps"])

    # SessionWorkflow: the steer joined the first turn, and the turn's next step answered it
    assert f"session-1-{suffix}" in one("session-1", "start")
    sent = one("session-1", "update")
    assert all(part in sent for part in ("message_id:2", "turn:1", "taken_as:steer")), sent
    transcript = json_field(one("session-1", "query"), "QueryResult")
    said = [(e["id"], e["role"], e["turn"], e["mode"]) for e in transcript["entries"]][:2]
    assert said == [(1, "user", 1, "queue"), (2, "user", 1, "steer")], transcript
    assert "phase:" in one("session-1", "update", 1)  # close: where the conversation stands
    session = json_field(one("session-1", "result"), "Result")
    assert (session["outcome"], session["reason"], session["turns"]) == ("closed", "done", 1)
    assert "You said earlier: 'I am planning a week of tide pooling in Oregon.'" in session["last_reply"]
    assert "About 'Only beaches near Newport, please.'" in session["last_reply"]
