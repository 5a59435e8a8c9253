"""Topics of the Workflow Stream each run hosts (`temporalio.contrib.workflow_streams`): what
`starter.watch` subscribes to. Publishing adds no history event; only a subscriber's polls do (and
an activity's publishes: each batch of streamed reply text is one Signal)."""

from common.contracts.llm import REPLY_TOPIC

__all__ = ["PHASE_TOPIC", "REPLY_TOPIC", "STEPS_TOPIC", "STREAM_OFFSET_QUERY"]

PHASE_TOPIC = "phase"  # str: the run's phase, each time it changes
STEPS_TOPIC = "steps"  # StepRecord: each finished step, as `status.completed_steps` lists it
# REPLY_TOPIC ("reply"), ReplyChunk: a model reply's text while it is written (LLMRequest.stream_reply)
# The stream's Query for the offset after its newest item (temporalio.contrib.workflow_streams' own
# name, which its clients ask): `starter.watch` asks it, and `RunContext.carry` reads it in the run.
STREAM_OFFSET_QUERY = "__temporal_workflow_stream_offset"
