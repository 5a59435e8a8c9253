"""A tool whose reply is far over what one MCP message may hold: the client stops reading it at the
bound, so the process that runs the activity never holds the reply (its peak memory barely moves),
and the run gets an error observation naming the limit (issue 29). Over stdio and streamable HTTP
(the SDK's server answers with a JSON body; the event-stream and compressed cases are read here
through the response hook itself)."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2

from activities.mcp.http_limit import bound_reply
from activities.mcp.reply_limit import MAX_REPLY_BYTES, Framer, Skipped, reply_id, too_large
from tests.chaos.processes import clean_environment
from tests.mcp.servers import HttpMcpServer, calls_in
from tests.mcp.support import REPO, servers_file, stdio_server

REPLY_MB = 48  # six times the bound (8 MiB)


async def probe(tmp_path: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Runs `mcp.call_tool` on `huge` in a process of its own; its observation and peak memory."""
    path = servers_file(tmp_path, {"big": {**entry, "approval": "never"}})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.mcp.reply_probe",
        str(path),
        "big",
        str(REPLY_MB),
        cwd=REPO,
        env=clean_environment({}),
        stdout=PIPE,
        stderr=PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()[-3000:]
    report: dict[str, Any] = json.loads(stdout.decode().splitlines()[-1])
    return report


def assert_bounded(report: dict[str, Any]) -> None:
    observation = report["observation"]
    assert observation["is_error"], observation["content"][:300]
    assert f"over {MAX_REPLY_BYTES} bytes" in observation["content"]
    assert "\n" not in observation["content"]
    grown_mib = (report["peak_during_kib"] - report["rss_before_kib"]) / 1024
    # The bound once (the part read before it was passed), never the reply.
    assert grown_mib < 2 * MAX_REPLY_BYTES / 2**20, (
        f"reading the reply grew the process by {grown_mib:.0f} MiB"
    )


async def test_a_huge_stdio_reply_is_not_read_and_becomes_an_error_observation(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    entry = stdio_server(log)
    assert_bounded(await probe(tmp_path, {**entry, "args": [*entry["args"], "--huge"]}))
    assert len(calls_in(log, "huge")) == 1  # answered as an observation: not retried


async def test_a_huge_http_reply_is_not_read_and_becomes_an_error_observation(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with HttpMcpServer(log, huge=True) as server:  # answers a call with one JSON body
        assert_bounded(await probe(tmp_path, {"url": server.url}))
    assert len(calls_in(log, "huge")) == 1


def test_the_framer_holds_at_most_the_bound_and_finds_the_id_at_either_end() -> None:
    """A Python SDK server puts a response's id first, a TypeScript one last; a notification has none."""
    id_first = b'{"jsonrpc":"2.0","id":7,"result":{"text":"' + b"x" * 500 + b'"}}'
    id_last = b'{"result":{"text":"' + b"y" * 500 + b'","n":{"id":3}},"jsonrpc":"2.0","id":"r-9"}'
    notification = b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"m":"' + b"z" * 500 + b'"}}'
    stream = b"\n".join([b'{"small":1}', id_first, id_last, notification, b'{"after":2}']) + b"\n"
    framer = Framer(limit=100)
    found = [line for at in range(0, len(stream), 37) for line in framer.feed(stream[at : at + 37])]
    assert found[0] == b'{"small":1}' and found[4] == b'{"after":2}' and framer.rest() is None
    skipped = [line for line in found[1:4] if isinstance(line, Skipped)]
    assert [line.size for line in skipped] == [len(id_first), len(id_last), len(notification)]
    assert [reply_id(line) for line in skipped] == [7, "r-9", None]


def call(request_id: int) -> httpx2.Request:
    message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "huge"}}
    return httpx2.Request("POST", "http://mcp.test/mcp", json=message)


def dumped(request_id: int, limit: int) -> str:
    return too_large(request_id, limit).model_dump_json(by_alias=True, exclude_unset=True)


async def test_an_event_line_over_the_bound_becomes_the_answer_to_its_request() -> None:
    progress = b'data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\r\n\r\n'
    reply = b'event: message\r\ndata: {"jsonrpc":"2.0","id":5,"result":{"t":"' + b"x" * 5000 + b'"}}\r\n\r\n'
    chunks = [progress, *(reply[at : at + 700] for at in range(0, len(reply), 700))]
    response = httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, stream=ChunkStream(chunks), request=call(5)
    )
    await bound_reply(response, limit=1000)
    lines = [line async for line in response.aiter_lines()]
    assert lines == [progress.decode().split("\r\n")[0], "", "event: message", f"data: {dumped(5, 1000)}", ""]


async def test_a_compressed_body_is_bounded_after_decompression() -> None:
    body = gzip.compress(b'{"jsonrpc":"2.0","id":6,"result":{"t":"' + b"x" * 100_000 + b'"}}')
    assert len(body) < 1000  # passes any bound on the bytes on the wire
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    response = httpx2.Response(200, headers=headers, stream=ChunkStream([body]), request=call(6))
    await bound_reply(response, limit=1000)
    assert (await response.aread()).decode() == dumped(6, 1000)


class ChunkStream(httpx2.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
