"""`python -m inbox [serve]`: the approval inbox on INBOX_HOST:INBOX_PORT (default 127.0.0.1:8080).
`python -m inbox hash-password`: a password hash for INBOX_REVIEWERS (reads the password from the
terminal, or from stdin when it is not a terminal)."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence

from common.settings import SettingsError, configured_app
from inbox.passwords import hash_password


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inbox", description="The approval inbox web app.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the inbox (the default)")
    serve.add_argument("--host", help="bind address (default: INBOX_HOST)")
    serve.add_argument("--port", type=int, help="port (default: INBOX_PORT)")
    commands.add_parser("hash-password", help="print a password hash for INBOX_REVIEWERS")
    return parser


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise SystemExit("the passwords differ")
    return first


def serve(host: str | None, port: int | None) -> int:
    import uvicorn

    from inbox.app import build_app

    built = configured_app(build_app, SettingsError)
    if built is None:
        return 2
    settings, app = built
    uvicorn.run(
        app,
        host=host or settings.inbox_host,
        port=settings.inbox_port if port is None else port,
        proxy_headers=False,
        server_header=False,
        log_level="info",
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "hash-password":
        password = read_password()
        if not password:
            print("error: empty password", file=sys.stderr)
            return 2
        print(hash_password(password))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(getattr(args, "host", None), getattr(args, "port", None))


if __name__ == "__main__":
    sys.exit(main())
