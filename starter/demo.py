"""`python -m starter demo` (`make demo`): embedded dev server + worker + one research run that waits
for a person's approval, then a grounded answer: docs/corpus indexed, one question answered with
citations, then a short session: three turns, the last one steered while it runs.

In a terminal the demo asks you to approve or reject the report (and for a comment); without one
(CI, a pipe) it approves as the `demo` reviewer and says so. Either way the decision goes through the
`approve` Update, as any reviewer's would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from temporalio.client import Client

from common.client import connect
from common.contracts.sessions import SessionInput
from common.devserver import PortInUse, port_open, start_dev_server, wait_for_port
from common.settings import Settings
from starter import api, render
from starter.turns import wait_for_turn
from starter.watch import PhaseChanged, watch
from workflows.answer import AnswerInput
from workflows.index import IndexInput
from workflows.models import PendingApproval, ResearchInput

__all__ = ["DEMO_CORPUS", "ask_person", "grounded_answer", "run_demo", "short_session"]

DEMO_APPROVER = "demo"
DEMO_TOPIC = "durable execution for AI agents"
# When present (a checkout), the demo's worker also starts this example MCP server (files__* tools).
EXAMPLE_MCP_SERVERS = "examples/mcp/servers.json"
DEMO_CORPUS = Path(__file__).resolve().parent.parent / "docs" / "corpus"
DEMO_CORPUS_NAME = "docs"
DEMO_QUESTION = "What happens when a process crashes?"
# The session: three queued messages, each after the one before is answered, and a steer sent right
# after the last.
DEMO_CONVERSATION = (
    "I am planning a week of tide pooling in Oregon.",
    "Which low tides should I look for?",
    "And what should I bring?",
)
DEMO_STEER = "Keep it to three items."


@dataclass(frozen=True)
class DemoDecision:
    approved: bool
    comment: str


def ask_person(pending: PendingApproval, read: Callable[[str], str] = input) -> DemoDecision:
    """Ask at the terminal until the answer is yes or no; then an optional comment."""
    print(f"\nThe run asks for approval:\n\n{pending.action}\n")
    while True:
        answer = read("Approve? [y/n] ").strip().lower()
        if answer in ("y", "yes", "n", "no"):
            break
        print("please answer y or n")
    comment = read("Comment (optional): ").strip()
    return DemoDecision(approved=answer.startswith("y"), comment=comment)


def decide_without_terminal() -> DemoDecision:
    print(f"no terminal to ask: approving as the {DEMO_APPROVER!r} reviewer")
    return DemoDecision(approved=True, comment="approved by `make demo` (no terminal to ask)")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def run_demo(settings: Settings, topic: str = DEMO_TOPIC, *, interactive: bool | None = None) -> int:
    interactive = sys.stdin.isatty() if interactive is None else interactive
    host, port = settings.temporal_address.rsplit(":", 1)
    with ExitStack() as stack:
        if port_open(host, int(port)):
            print(f"using the Temporal server already running at {settings.temporal_address}")
        else:
            print("starting the embedded Temporal dev server (state in .state/) ...")
            try:
                server = start_dev_server(port=int(port))
            except PortInUse as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            stack.callback(_stop, server)
            wait_for_port(host, int(port), process=server)
        print("starting the worker ...", flush=True)
        # Popen returns at once after fork/exec; nothing here waits on the child.
        worker_env = os.environ.copy()
        if not worker_env.get("MCP_SERVERS_FILE") and os.path.isfile(EXAMPLE_MCP_SERVERS):  # noqa: ASYNC240
            worker_env["MCP_SERVERS_FILE"] = EXAMPLE_MCP_SERVERS
            print(f"the worker starts the example MCP server of {EXAMPLE_MCP_SERVERS} (tools files__*)")
        worker = subprocess.Popen([sys.executable, "-m", "worker"], env=worker_env)  # noqa: ASYNC220
        stack.callback(_stop, worker)
        client = await connect(settings)
        params = ResearchInput(
            topic=topic, approvers=[DEMO_APPROVER], max_parallel=settings.research_max_parallel
        )
        handle = await api.start_research(client, params, task_queue=settings.temporal_task_queue)
        print(f"started {handle.id} on the {settings.provider} model", flush=True)

        async for event in watch(client, handle.id):
            print(render.event_line(event), flush=True)
            if isinstance(event, PhaseChanged) and event.pending_approval is not None:
                if interactive:
                    decision = await asyncio.to_thread(ask_person, event.pending_approval)
                else:
                    decision = decide_without_terminal()
                record = await api.approve(
                    client,
                    handle.id,
                    DEMO_APPROVER,
                    decision.comment,
                    approved=decision.approved,
                    action_hash=event.pending_approval.action_hash,
                )
                print(render.decision_line(handle.id, record, approved=decision.approved), flush=True)

        result = await api.get_result(client, handle.id)
        print("\n" + render.result_text(result) + "\n")
        print(
            f"Web UI: {settings.temporal_web_ui}/namespaces/{quote(settings.temporal_namespace)}"
            f"/workflows/{quote(handle.id)}"
        )
        await grounded_answer(client, settings)
        await short_session(client, settings)
    return 0


async def grounded_answer(client: Client, settings: Settings) -> None:
    """The third shape, the sequential pipeline: index docs/corpus, then answer one question from
    it with citations (each quote checked against its passage)."""
    print(f"\nindexing {DEMO_CORPUS} into corpus {DEMO_CORPUS_NAME!r} ...", flush=True)
    index = await api.start_index(
        client,
        IndexInput(directory=str(DEMO_CORPUS), corpus=DEMO_CORPUS_NAME),
        task_queue=settings.temporal_task_queue,
    )
    async for event in watch(client, index.id):
        print(render.event_line(event), flush=True)
    print(render.result_text(await api.get_result(client, index.id)), flush=True)
    handle = await api.start_answer(
        client,
        AnswerInput(question=DEMO_QUESTION, corpus=DEMO_CORPUS_NAME),
        task_queue=settings.temporal_task_queue,
    )
    print(f"\nstarted {handle.id}: {DEMO_QUESTION}", flush=True)
    async for event in watch(client, handle.id):
        print(render.event_line(event), flush=True)
    print("\n" + render.result_text(await api.get_result(client, handle.id)) + "\n")
    print(
        f"Web UI: {settings.temporal_web_ui}/namespaces/{quote(settings.temporal_namespace)}"
        f"/workflows/{quote(handle.id)}"
    )


async def short_session(client: Client, settings: Settings) -> None:
    """A conversation (`SessionWorkflow`): messages are turns in order, each reply sees the ones
    before; a steer sent while a turn runs joins that turn (after it: a turn of its own)."""
    handle = await api.start_session(client, SessionInput(tools=[]), task_queue=settings.temporal_task_queue)
    print(f"\nstarted session {handle.id}", flush=True)
    previous: int | None = None
    for text in DEMO_CONVERSATION:
        # Each message once the one before is answered: the steer then meets a turn just begun.
        if previous is not None:
            await wait_for_turn(client, handle.id, previous)
        sent = await api.send_message(client, handle.id, text)
        print(f"say: {text}\n  {render.send_line(sent)}", flush=True)
        previous = sent.message_id
    steer = await api.send_message(client, handle.id, DEMO_STEER, "steer")
    joined = (
        "it joined the running turn" if steer.taken_as == "steer" else "the turn had ended: a turn of its own"
    )
    print(f"steer: {DEMO_STEER}\n  {render.send_line(steer)}: {joined}", flush=True)
    await wait_for_turn(client, handle.id, steer.message_id)

    print("\nthe transcript:")
    for entry in (await api.get_transcript(client, handle.id)).entries:
        print("\n".join(render.entry_lines(entry)))
    await api.close_session(client, handle.id, "end of the demo")
    print("\n" + render.result_text(await api.get_result(client, handle.id)))
    print("talk to one yourself: python -m starter session, then python -m starter chat ID", flush=True)


if __name__ == "__main__":
    from common.settings import load_settings

    sys.exit(asyncio.run(run_demo(load_settings())))
