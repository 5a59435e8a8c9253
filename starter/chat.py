"""`python -m starter chat ID`: a line-oriented terminal client of a session.

It prints the conversation so far, then follows the session on its Workflow Stream: reply text as
the model writes it (topic `reply`), and at each turn event (topic `turns`) the transcript's new
entries (what others said, tool calls and results, replies that were not streamed), the pending
approval in full, and how each turn ended. Meanwhile it reads lines: a plain line is queued, and
`/steer`, `/interrupt`, `/approve`, `/reject`, `/close`, `/help` do what they say. Ctrl-C or the end
of input leaves the chat; the session stays open.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections import deque
from typing import TextIO

from temporalio.client import Client, WorkflowExecutionStatus

from common.contracts.llm import REPLY_TOPIC, ReplyChunk
from common.contracts.sessions import TURNS_TOPIC, SendMode, TranscriptEntry, TurnEvent
from starter import api, render
from starter.turns import session_events, stream_offset

__all__ = ["HELP", "Chat", "chat"]

HELP = """\
a line          queue a message: its own turn, after those before it
/steer TEXT     join the running turn: the model's next step sees TEXT (no turn running: queued)
/interrupt TEXT stop the running turn now; TEXT starts the next one
/approve [note] approve the pending action (as --as), bound to the action shown
/reject [note]  reject the pending action (as --as)
/close [reason] close the session after the running turn
/help           this list
//TEXT          send a line that begins with /
Ctrl-C or Ctrl-D leaves the chat; the session stays open."""

_MODES: dict[str, SendMode] = {"/steer": "steer", "/interrupt": "interrupt"}


class Chat:
    """One terminal's conversation with session `workflow_id`, as `sender` (None: unnamed)."""

    def __init__(self, client: Client, workflow_id: str, sender: str | None, out: TextIO) -> None:
        self.client, self.workflow_id, self.sender, self.out = client, workflow_id, sender, out
        self._last_id = 0  # the newest transcript entry shown
        self._mine: set[int] = set()  # message ids this chat sent: the terminal shows them already
        # Held while a send is in flight, so the transcript is not read before its id is known.
        self._sending = asyncio.Lock()
        self._streaming: tuple[str, int] | None = None  # the (step, attempt) whose reply is arriving
        self._streamed_text = ""  # what arrived of it
        self._echoing = False  # whether it is being printed (not: the transcript showed it already)
        self._matched = False  # whether the transcript's entry of it has been seen
        # The two sources race (the transcript may be read before the stream's chunks arrive, or
        # after): each reply is printed once, from whichever came first.
        self._streamed: deque[str] = deque(
            maxlen=32
        )  # replies printed as they streamed, not yet in the transcript
        self._printed: deque[str] = deque(maxlen=32)  # replies printed from the transcript
        self._mid_line = False

    # -- output ----------------------------------------------------------------------------------

    def _print(self, text: str) -> None:
        if self._mid_line:
            self.out.write("\n")
            self._mid_line = False
        self.out.write(text + "\n")
        self.out.flush()

    def _show_chunk(self, chunk: ReplyChunk) -> None:
        key = (chunk.step, chunk.attempt)
        if key != self._streaming:
            self._end_reply()
            self._streaming, self._streamed_text, self._echoing, self._matched = key, "", False, False
        self._streamed_text += chunk.text
        if self._echoing:
            if not self._mid_line:  # something else was printed in the middle of the reply
                self._write_head("assistant (continued): ")
            self._write(chunk.text)
            return
        printed = next((text for text in self._printed if text.startswith(self._streamed_text)), None)
        if printed is not None:  # the transcript showed this reply already
            if printed == self._streamed_text:
                self._printed.remove(printed)
            return
        self._echoing = True
        retried = f" (attempt {chunk.attempt})" if chunk.attempt > 1 else ""
        self._write_head(f"assistant{retried}: ")
        self._write(self._streamed_text)

    def _write_head(self, head: str) -> None:
        if self._mid_line:
            self.out.write("\n")
        self.out.write(head)
        self._mid_line = True

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        self._mid_line = True

    def _end_reply(self) -> None:
        """The reply that was arriving is complete (a new one begins, or its turn ended)."""
        if self._echoing and not self._matched and self._streamed_text.strip():
            self._streamed.append(self._streamed_text.strip())
        self._streaming, self._streamed_text, self._echoing, self._matched = None, "", False, False
        if self._mid_line:
            self.out.write("\n")
            self.out.flush()
            self._mid_line = False

    def _show_entry(self, entry: TranscriptEntry) -> None:
        if entry.role == "user" and entry.id in self._mine:
            return
        text, streamed = entry.text.strip(), False
        if entry.role == "assistant" and text:
            if self._echoing and not self._matched and self._streamed_text.strip() == text:
                self._matched = streamed = True  # the reply arriving now
            elif text in self._streamed:
                self._streamed.remove(text)
                streamed = True
            else:
                self._printed.append(entry.text)
        for line in render.entry_lines(entry, text=not streamed, outcome=False):
            self._print(line)

    # -- following the session -------------------------------------------------------------------

    async def _catch_up(self) -> None:
        """Print the transcript entries after the last one shown."""
        async with self._sending:
            page = await api.get_transcript(self.client, self.workflow_id, after=self._last_id)
            for entry in page.entries:
                self._show_entry(entry)
            self._last_id = max(self._last_id, page.last_id)

    async def _show_pending(self) -> None:
        pending = (await api.get_status(self.client, self.workflow_id)).pending_approval
        if pending is not None:
            self._print(render.pending_line(pending, full=True))
            self._print("    /approve [comment] or /reject [comment] decides it")

    async def _follow(self, offset: int) -> None:
        async for item in session_events(self.client, self.workflow_id, [TURNS_TOPIC, REPLY_TOPIC], offset):
            if item.topic == REPLY_TOPIC:
                self._show_chunk(ReplyChunk.model_validate(item.data))
                continue
            event = TurnEvent.model_validate(item.data)
            if event.kind == "turn_started" or event.message_id in self._mine:
                continue  # nothing new to show: the reply streams, or comes with the next event
            await self._catch_up()
            if event.kind == "turn_ended":
                self._end_reply()
            if event.kind == "approval_requested":
                await self._show_pending()
            line = render.turn_event_line(event)
            if line is not None:
                self._print(line)
        self._end_reply()
        await self._catch_up()
        result = await api.get_result(self.client, self.workflow_id)
        self._print(f"the session has ended\n{render.result_text(result)}")

    # -- what the person types -------------------------------------------------------------------

    async def _send(self, text: str, mode: SendMode) -> None:
        async with self._sending:
            sent = await api.send_message(self.client, self.workflow_id, text, mode, self.sender)
            self._mine.add(sent.message_id)
            self._print(render.send_line(sent))

    async def _decide(self, comment: str, *, approved: bool) -> None:
        if self.sender is None:
            raise api.StarterError("deciding needs a name: start the chat with --as APPROVER")
        pending = (await api.get_status(self.client, self.workflow_id)).pending_approval
        if pending is None:
            raise api.StarterError("nothing waits for approval")
        recorded = await api.approve(
            self.client,
            self.workflow_id,
            self.sender,
            comment,
            approved=approved,
            action_hash=pending.action_hash,
        )
        self._print(render.decision_line(self.workflow_id, recorded, approved=approved))

    async def handle(self, line: str) -> None:
        """One typed line; an error the person can act on is printed, and the chat goes on."""
        if not line.strip():
            return
        command, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        try:
            if line.startswith("//"):
                await self._send(line[1:], "queue")
            elif not line.startswith("/"):
                await self._send(line, "queue")
            elif command in _MODES:
                await self._send(rest, _MODES[command])
            elif command in ("/approve", "/reject"):
                await self._decide(rest, approved=command == "/approve")
            elif command == "/close":
                await api.close_session(self.client, self.workflow_id, rest)
                self._print("closing: the session ends after the running turn")
            elif command == "/help":
                self._print(HELP)
            else:
                self._print(f"unknown command {command} (/help lists them)")
        except api.StarterError as error:
            self._print(f"error: {error}")

    async def _read(self, lines: asyncio.Queue[str | None]) -> None:
        while (line := await lines.get()) is not None:
            await self.handle(line)

    # -- the whole chat --------------------------------------------------------------------------

    async def run(self, stdin: TextIO) -> int:
        _, status = await api.describe_run(self.client, self.workflow_id)  # an unknown id: one line
        running = status == WorkflowExecutionStatus.RUNNING
        offset = await stream_offset(self.client, self.workflow_id) if running else 0
        page = await api.get_transcript(self.client, self.workflow_id)
        self._print(f"session {self.workflow_id}: {len(page.entries)} entries, phase {page.phase}")
        for entry in page.entries:
            for line in render.entry_lines(entry):
                self._print(line)
        self._last_id = page.last_id
        if not running:
            self._print(f"the session has ended ({status.name.lower() if status else 'unknown'})")
            return 0
        await self._show_pending()
        self._print("type a message, or /help")

        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        # A daemon thread: a blocked read must not keep the process alive after the chat ends.
        threading.Thread(target=_read_lines, args=(stdin, loop, lines), daemon=True).start()
        leave = asyncio.Event()
        loop.add_signal_handler(signal.SIGINT, leave.set)
        tasks = [
            asyncio.ensure_future(self._follow(offset)),
            asyncio.ensure_future(self._read(lines)),
            asyncio.ensure_future(leave.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            for task in tasks:
                task.cancel()
        for task in done:
            task.result()  # the follower's error (e.g. the server went away) is the chat's
        if tasks[0] not in done:
            self._end_reply()
            self._print(f"left the chat; the session stays open (python -m starter chat {self.workflow_id})")
        return 0


def _read_lines(stdin: TextIO, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    try:
        while line := stdin.readline():
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)
    except RuntimeError:  # the loop closed: the chat has ended
        return


async def chat(client: Client, workflow_id: str, sender: str | None = None) -> int:
    """Talk to session `workflow_id` at this terminal until Ctrl-C, the end of input or its end."""
    return await Chat(client, workflow_id, sender, sys.stdout).run(sys.stdin)
