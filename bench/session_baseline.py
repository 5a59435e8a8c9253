"""The sessions' floor: a conversation written directly on the Temporal SDK. An Update `send` appends
a message and returns; the run's loop answers each message with one `llm.complete` call (the same
activity as the product's). A Query `replies` says how many are answered; an Update `close` ends it.
None of the product's bookkeeping: no transcript, status, stream, turn events, steer or interrupt,
budget, approvals, continue-as-new or external storage.

`transcript="full"` sends the whole conversation inline in every model call (the naive design);
`"new"` only the newest message, for conversations too long for the naive history."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from common.contracts.llm import LLMRequest, LLMResponse, Message

__all__ = ["BaselineSession", "BaselineSessionInput"]

SYSTEM = "You are a helpful assistant in a conversation."


class BaselineSessionInput(BaseModel):
    transcript: str = "full"  # "full" or "new"


@workflow.defn(name="BaselineSession")
class BaselineSession:
    def __init__(self) -> None:
        self._inbox: list[str] = []
        self._messages: list[Message] = []
        self._answered = 0
        self._closed = False

    @workflow.update(name="send")
    def send(self, text: str) -> int:
        """Records the message; returns its turn."""
        self._inbox.append(text)
        return self._answered + len(self._inbox)

    @workflow.update(name="close")
    def close(self) -> None:
        self._closed = True

    @workflow.query(name="replies")
    def replies(self) -> int:
        return self._answered

    @workflow.run
    async def run(self, params: BaselineSessionInput) -> int:
        while True:
            await workflow.wait_condition(lambda: bool(self._inbox) or self._closed)
            if not self._inbox:
                return self._answered
            self._messages.append(Message.user_text(self._inbox.pop(0)))
            request = LLMRequest(
                system=SYSTEM,
                messages=self._messages if params.transcript == "full" else self._messages[-1:],
                step_kind="session",
                step=f"turn {self._answered + 1}",
            )
            response: LLMResponse = await workflow.execute_activity(
                "llm.complete",
                request,
                result_type=LLMResponse,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
            )
            self._messages.append(Message(role="assistant", content=response.content))
            self._answered += 1
