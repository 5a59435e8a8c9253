"""`python -m starter`: research, agent, index, answer, start (any kit workflow), approve, reject, status, watch,
fork, session, say, chat, demo, mcp.

Each command is a thin shell over an async function of `starter.api` / `starter.watch`; an error a
person can act on prints one line on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError

from activities.tools.declare import registry
from common.approval_signing import KeyFileError
from common.client import TemporalUnreachable, connect
from common.contracts.sessions import SessionInput
from common.process_exit import exit_now
from common.settings import Settings, load_settings
from starter import api, keys, render
from starter.chat import chat
from starter.eval.cli import add_eval_parser, run_eval_command
from starter.fork import add_fork_parser, start_fork
from starter.spend import add_spend_parser, run_spend
from starter.turns import wait_for_turn
from starter.watch import RunEnded, watch
from workflows.answer import AnswerInput
from workflows.index import IndexInput
from workflows.models import AgentInput, ResearchInput


def _tool_list(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error.msg} at character {error.pos}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("the input must be a JSON object")
    return parsed


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--approver",
        dest="approvers",
        action="append",
        metavar="NAME",
        help="who may approve (repeatable); none: no approval step",
    )
    parser.add_argument("--budget", dest="budget_usd", type=float, metavar="USD", help="cost budget in USD")
    parser.add_argument("--model", help="model name (default: LLM_MODEL or the provider's default)")
    parser.add_argument("--tenant", metavar="T", help="whose spend this is (TENANT_BUDGETS_FILE)")
    parser.add_argument(
        "--approval-timeout",
        dest="approval_timeout_s",
        type=float,
        metavar="SECONDS",
        help="how long to wait for a decision before escalating (default 24 h)",
    )
    parser.add_argument(
        "--approval-policy",
        choices=["reject", "approve"],
        help="what happens when nobody decides in time (default reject)",
    )
    parser.add_argument("--id", dest="workflow_id", help="workflow id (default: generated)")
    parser.add_argument(
        "--wait", action="store_true", help="print progress until the run ends, then the result"
    )


def _add_decision_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workflow_id", metavar="ID")
    parser.add_argument("--as", dest="approver", required=True, metavar="APPROVER", help="who decides")
    parser.add_argument("--comment", default="", help="recorded with the decision")
    parser.add_argument(
        "--signal",
        action="store_true",
        help="send the `approve` Signal (fire-and-forget) instead of the Update",
    )
    parser.add_argument(
        "--hash",
        dest="action_hash",
        metavar="HASH",
        help="the action hash you reviewed (from status): refused if the pending action changed",
    )
    parser.add_argument(
        "--key",
        type=Path,
        metavar="FILE",
        help="sign the decision with this private key (NAME.key from `keys new`), over the pending action",
    )
    parser.add_argument(
        "--signed-by",
        dest="signed_by",
        metavar="NAME",
        help="the key's name in APPROVER_KEYS_FILE when it is not the approver's (e.g. a service signing for them)",
    )
    parser.add_argument(
        "--expires-in",
        dest="expires_in_s",
        type=float,
        default=keys.DEFAULT_EXPIRES_IN_S,
        metavar="SECONDS",
        help=f"a signed decision is refused after this long (default {keys.DEFAULT_EXPIRES_IN_S:.0f})",
    )


class OneLineErrors(argparse.ArgumentParser):
    """A usage error is one line on stderr, like every other error of the starter (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(prog="python -m starter", description="Start and steer AI workflow runs.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    research = commands.add_parser("research", help="start a ResearchWorkflow on TOPIC")
    research.add_argument("topic", metavar="TOPIC")
    research.add_argument("--max-subtopics", type=int, metavar="N")
    research.add_argument("--deliver-to", metavar="TARGET", help="https://URL, mailto:ADDRESS or file:DIR")
    research.add_argument("--depth", choices=["quick", "deep"], help="deep: an agent with tools per subtopic")
    _add_run_options(research)

    agent = commands.add_parser("agent", help="start an AgentWorkflow on GOAL")
    agent.add_argument("goal", metavar="GOAL")
    agent.add_argument(
        "--tools", type=_tool_list, metavar="A,B", help=f"tools to offer: {', '.join(registry.names())}"
    )
    agent.add_argument("--max-iterations", type=int, metavar="N")
    agent.add_argument(
        "--pause-on-budget",
        action="store_true",
        default=None,
        help="when the budget is spent, ask the approvers for a top-up instead of ending",
    )
    _add_run_options(agent)

    index = commands.add_parser("index", help="index DIR's markdown, text and HTML files for `answer`")
    # The workers read the folder: its absolute path, so their working directory does not matter.
    index.add_argument("directory", metavar="DIR", type=os.path.abspath)
    index.add_argument("--corpus", metavar="NAME", help="the corpus to index into (default: default)")
    index.add_argument("--batch-size", type=int, metavar="N", help="files per indexing step (default 16)")
    index.add_argument("--id", dest="workflow_id", help="workflow id (default: generated)")
    index.add_argument(
        "--wait", action="store_true", help="print progress until the run ends, then the result"
    )

    answer = commands.add_parser("answer", help="answer QUESTION from an indexed corpus, with citations")
    answer.add_argument("question", metavar="QUESTION")
    answer.add_argument("--corpus", metavar="NAME", help="the indexed corpus (default: default)")
    answer.add_argument("--top-k", type=int, metavar="N", help="passages retrieved (default 5)")
    answer.add_argument(
        "--max-reasks", type=int, metavar="N", help="re-asks after a failed validation (default 2)"
    )
    answer.add_argument("--deliver-to", metavar="TARGET", help="https://URL, mailto:ADDRESS or file:DIR")
    _add_run_options(answer)

    start = commands.add_parser(
        "start", help="start any kit workflow by its type name, e.g. TicketTriageWorkflow"
    )
    start.add_argument("workflow_type", metavar="TYPE")
    start.add_argument(
        "--input", type=_json_object, default={}, metavar="JSON", help="the input, a JSON object"
    )
    start.add_argument("--id", dest="workflow_id", help="workflow id (default: generated)")
    start.add_argument(
        "--wait", action="store_true", help="print progress until the run ends, then the result"
    )

    approve = commands.add_parser("approve", help="approve the pending action of run ID")
    _add_decision_options(approve)
    approve.add_argument(
        "--budget",
        dest="budget_usd",
        type=float,
        metavar="USD",
        help="answer a budget top-up request with this new total budget",
    )
    approve.add_argument(
        "--for-run",
        dest="for_run",
        action="store_true",
        help="also approve later calls of this tool with the same targets, for the rest of the run",
    )
    _add_decision_options(commands.add_parser("reject", help="reject the pending action of run ID"))

    status = commands.add_parser("status", help="phase, pending approval and per-step usage and cost")
    status.add_argument("workflow_id", metavar="ID")

    watch_parser = commands.add_parser("watch", help="live progress of run ID until it ends")
    watch_parser.add_argument("workflow_id", metavar="ID")

    add_fork_parser(commands)

    _add_session_commands(commands)

    keys_parser = commands.add_parser("keys", help="approvers' signing keys (keys new NAME --out DIR)")
    keys_commands = keys_parser.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    new_keys = keys_commands.add_parser("new", help="write NAME.key (private, mode 0600) and NAME.pub in DIR")
    new_keys.add_argument("name", metavar="NAME", help="the approver (or signer) the key belongs to")
    new_keys.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder for the pair")

    add_eval_parser(commands)

    add_spend_parser(commands)
    commands.add_parser("demo", help="embedded dev server + worker + a research run with approval")

    mcp = commands.add_parser("mcp", help="serve the product as an MCP server (stdio; --http HOST:PORT)")
    mcp.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (needs MCP_SERVER_TOKEN)",
    )

    # Delegated to `python -m inbox` before parsing (see main); listed here for --help.
    inbox = commands.add_parser(
        "inbox", help="the approval inbox web app (python -m inbox [serve|hash-password])", add_help=False
    )
    inbox.add_argument("inbox_args", nargs=argparse.REMAINDER)
    return parser


def _add_session_commands(commands: Any) -> None:
    session = commands.add_parser("session", help="start a SessionWorkflow (a conversation); prints its id")
    session.add_argument(
        "--tools", type=_tool_list, metavar="A,B", help=f"tools to offer: {', '.join(registry.names())}"
    )
    session.add_argument(
        "--approver", dest="approvers", action="append", metavar="NAME", help="who may approve (repeatable)"
    )
    session.add_argument("--system", metavar="TEXT", help="the assistant's instructions")
    session.add_argument("--model", help="model name (default: LLM_MODEL or the provider's default)")
    session.add_argument("--budget", dest="budget_usd", type=float, metavar="USD", help="cost budget in USD")
    session.add_argument("--tenant", metavar="T", help="whose spend this is (TENANT_BUDGETS_FILE)")
    session.add_argument("--id", dest="workflow_id", help="workflow id (default: generated)")
    session.add_argument(
        "--first-message", dest="first_message", metavar="TEXT", help="the first turn's message"
    )

    say = commands.add_parser("say", help="send a message to session ID")
    say.add_argument("workflow_id", metavar="ID")
    say.add_argument("text", metavar="TEXT")
    say.add_argument(
        "--mode",
        choices=["queue", "steer", "interrupt"],
        default="queue",
        help="queue: a turn of its own (default); steer: join the running turn; interrupt: stop it",
    )
    say.add_argument("--as", dest="sender", metavar="SENDER", help="who is speaking (recorded)")
    say.add_argument("--wait", action="store_true", help="wait for the message's turn, print its reply")

    chat_parser = commands.add_parser("chat", help="talk to session ID at this terminal (/help inside)")
    chat_parser.add_argument("workflow_id", metavar="ID")
    chat_parser.add_argument("--as", dest="sender", metavar="SENDER", help="who is speaking (and approving)")


async def _start_session(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    options = {name: getattr(args, name) for name in SessionInput.model_fields if hasattr(args, name)}
    handle = await api.start_session(
        client,
        api.build_input(SessionInput, **options),
        task_queue=settings.temporal_task_queue,
        workflow_id=args.workflow_id,
    )
    print(handle.id, flush=True)
    return 0


async def _say(client: Client, args: argparse.Namespace) -> int:
    sent = await api.send_message(client, args.workflow_id, args.text, args.mode, args.sender)
    print(render.send_line(sent), flush=True)
    if args.wait:
        print(render.turn_reply_text(await wait_for_turn(client, args.workflow_id, sent.message_id)))
    return 0


async def follow(client: Client, workflow_id: str) -> int:
    """Print progress until the run ends, then its result; 0 if it completed."""
    ended = "UNKNOWN"
    shown = render.ProgressText()
    async for event in watch(client, workflow_id, replies=True):
        print(shown.text(event), end="", flush=True)
        if isinstance(event, RunEnded):
            ended = event.status
    if ended == "FAILED":
        await api.get_result(client, workflow_id)  # raises StarterError with the failure's message
    if ended != "COMPLETED":
        raise api.StarterError(f"{workflow_id}: the run ended {ended.lower()}")
    print()
    print(render.result_text(await api.get_result(client, workflow_id)))
    return 0


# The commands that start a shipped workflow: its type and input model. Each option's `dest` is the
# input field it sets; an option left out takes the workflow's default.
STARTS: dict[str, tuple[str, type[BaseModel]]] = {
    "research": (api.RESEARCH_WORKFLOW, ResearchInput),
    "agent": (api.AGENT_WORKFLOW, AgentInput),
    "index": (api.INDEX_WORKFLOW, IndexInput),
    "answer": (api.ANSWER_WORKFLOW, AnswerInput),
}


async def _start_shipped(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    workflow_type, input_model = STARTS[args.command]
    options = {name: getattr(args, name) for name in input_model.model_fields if hasattr(args, name)}
    if input_model is ResearchInput:
        # Workflows cannot read settings: the worker-side default concurrency comes with the input.
        options["max_parallel"] = settings.research_max_parallel
    params = api.build_input(input_model, **options)
    return await _started(client, settings, args, workflow_type, params)


async def _start(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    return await _started(client, settings, args, args.workflow_type, args.input)


async def _started(
    client: Client, settings: Settings, args: argparse.Namespace, workflow_type: str, params: Any
) -> int:
    handle = await api.start_workflow(
        client, workflow_type, params, task_queue=settings.temporal_task_queue, workflow_id=args.workflow_id
    )
    print(f"started {handle.id}", flush=True)
    return await follow(client, handle.id) if args.wait else 0


async def _fork(client: Client, args: argparse.Namespace) -> int:
    options = {"model": args.model, "input_patch": args.input_patch, "workflow_id": args.workflow_id}
    handle, source = await start_fork(client, args.run, args.step, **options)
    print(f"started {handle.id} (fork of {source.label()})", flush=True)
    return await follow(client, handle.id) if args.wait else 0


async def _decide(client: Client, args: argparse.Namespace, *, approved: bool) -> int:
    recorded = await api.approve(
        client,
        args.workflow_id,
        args.approver,
        args.comment,
        approved=approved,
        via_signal=args.signal,
        action_hash=args.action_hash,
        budget_usd=getattr(args, "budget_usd", None),
        key=args.key,
        for_run=getattr(args, "for_run", False),
        signed_by=args.signed_by,
        expires_in_s=args.expires_in_s,
    )
    print(render.decision_line(args.workflow_id, recorded, approved=approved))
    return 0


async def _dispatch(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    if args.command in STARTS:
        return await _start_shipped(client, settings, args)
    if args.command == "start":
        return await _start(client, settings, args)
    if args.command in ("approve", "reject"):
        return await _decide(client, args, approved=args.command == "approve")
    if args.command == "status":
        print(render.status_text(args.workflow_id, await api.get_status(client, args.workflow_id)))
        return 0
    if args.command == "watch":
        return await follow(client, args.workflow_id)
    if args.command == "fork":
        return await _fork(client, args)
    if args.command == "session":
        return await _start_session(client, settings, args)
    if args.command == "say":
        return await _say(client, args)
    if args.command == "chat":
        return await chat(client, args.workflow_id, args.sender)
    if args.command == "eval":
        return await run_eval_command(client, args)
    raise AssertionError(f"unhandled command {args.command}")


async def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    try:
        if args.command == "demo":
            from starter.demo import run_demo

            return await run_demo(settings)
        if args.command == "mcp":  # connects to Temporal on the first call that needs it
            from starter.mcp_server import serve

            return await serve(settings, args.http)
        if args.command == "spend":  # the workers' spend database: no Temporal needed
            return await run_spend(settings, args)
        if args.command == "keys":  # local files only: no Temporal needed
            print(keys.new_keys(args.name, args.out).text())
            return 0
        client = await connect(settings, wait_s=5)
        return await _dispatch(client, settings, args)
    except (api.StarterError, TemporalUnreachable, KeyFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except RPCError as error:  # anything the server refused that the api did not name more precisely
        print(f"error: Temporal refused the request: {error.message}", file=sys.stderr)
        return 1


def main() -> None:
    if sys.argv[1:2] == ["inbox"]:  # the inbox runs its own event loop (uvicorn)
        from inbox.__main__ import main as inbox_main

        sys.exit(inbox_main(sys.argv[2:]))
    try:
        code = asyncio.run(run(sys.argv[1:]))
    except KeyboardInterrupt:
        code = 130
    exit_now(code)


if __name__ == "__main__":
    main()
