"""The end of a streamed reply that `llm.complete` left to the run (`LLMRequest.run_publishes_reply_end`):
published on the run's Workflow Stream when the result arrives, after every chunk the activity sent
(those reached the run before the result) and before the step is recorded, so a client reads the
whole text before it sees the step, or the turn, end.

Workflow code only: publishing appends to the run's memory (a watcher's polls read it); on replay the
result in the history publishes the same chunk again, so nothing is lost when a worker dies."""

from __future__ import annotations

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream

with workflow.unsafe.imports_passed_through():
    from common.contracts.llm import REPLY_TOPIC, LLMRequest, LLMResponse, ReplyChunk

__all__ = ["asking_for_reply_end", "publish_reply_end"]


def asking_for_reply_end(request: LLMRequest) -> LLMRequest:
    """A streamed request, marked so that the activity leaves the reply's end to this run."""
    if not request.stream_reply or request.run_publishes_reply_end:
        return request
    return request.model_copy(update={"run_publishes_reply_end": True})


def publish_reply_end(stream: WorkflowStream, step: str, response: LLMResponse) -> None:
    end = response.unpublished_reply
    if end is None:
        return
    text = response.text()[end.offset :]
    if text:
        chunk = ReplyChunk(step=step, text=text, seq=end.seq, attempt=end.attempt)
        stream.topic(REPLY_TOPIC, type=ReplyChunk).publish(chunk)
