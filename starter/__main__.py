"""`python -m starter`: research, agent, approve, reject, status, watch, demo."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from common.client import TemporalUnreachable, connect
from common.settings import load_settings
from starter import api
from workflows.models import ResearchInput


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starter", description="Start and steer AI workflow runs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    research = commands.add_parser("research", help="start a ResearchWorkflow on TOPIC")
    research.add_argument("topic")
    research.add_argument("--max-subtopics", type=int, default=4)
    research.add_argument("--wait", action="store_true", help="wait and print the report")

    status = commands.add_parser("status", help="show a run's phase, usage and cost")
    status.add_argument("workflow_id")

    commands.add_parser("demo", help="run a research workflow end to end and print the result")
    return parser


async def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    if args.command == "demo":
        from starter.demo import run_demo

        return await run_demo(settings)
    try:
        client = await connect(settings, wait_s=5)
    except TemporalUnreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.command == "research":
        handle = await api.start_research(
            client,
            ResearchInput(topic=args.topic, max_subtopics=args.max_subtopics),
            task_queue=settings.temporal_task_queue,
        )
        print(f"started {handle.id}")
        if args.wait:
            result = await handle.result()
            print(result.report)
        return 0
    if args.command == "status":
        print((await api.get_status(client, args.workflow_id)).model_dump_json(indent=2))
        return 0
    return 2


def main() -> None:
    sys.exit(asyncio.run(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
