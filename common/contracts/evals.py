"""A recorded run as evals see it: one line of `starter eval export` (a regression case the testing
kit can replay, `workflows.kit.testing.eval_cases`), and each side of a case `starter eval` scores.

Everything comes from the run's Temporal history (its chain across continue-as-new): the input of
its first run, every model call with its recorded reply, the tool calls the model asked for with
the observations it read back, and the result (or the failure) of its last run.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from common.contracts.llm import LLMResponse
from common.contracts.runs import StepRecord

__all__ = ["RecordedModelCall", "RecordedRun", "RecordedToolCall"]


class RecordedToolCall(BaseModel):
    """A tool call the model asked for, and what it read back."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    # The observation the model read in its next request; None when no later request shows it (the
    # run ended on that turn: the calls of a turn that cannot be followed up are not run).
    observation: str | None = None
    is_error: bool = False
    simulated: bool = False  # an eval run's side effect, never performed (workflows/kit/eval_mode.py)


class RecordedModelCall(BaseModel):
    """One completed model call (`llm.complete`): its step, and the reply as the run recorded it."""

    step: str  # the request's step name ("llm step 2", "classify"): unique in a run chain
    step_kind: str = "chat"
    reply: LLMResponse
    tool_calls: list[RecordedToolCall] = Field(default_factory=list)


class RecordedRun(BaseModel):
    """A closed run, read from its history (`starter eval export` writes one per line)."""

    workflow_type: str
    workflow_id: str
    run_id: str  # the first run of its chain (what a fork names)
    status: str  # how its last run closed: "completed", "failed", "terminated", ...
    input: dict[str, Any] = Field(default_factory=dict)  # the first run's input, as JSON
    result: Any = None  # the last run's result, as JSON (None when it did not complete)
    failure: str | None = None  # why it failed, when it did
    outcome: str | None = None  # the result's `outcome` (or `status`'s), "failed" for a failed run
    cost_usd: float = 0.0  # what the run paid
    steps: list[StepRecord] = Field(default_factory=list)  # as `status` numbers them
    model_calls: list[RecordedModelCall] = Field(default_factory=list)

    def tool_calls(self) -> list[RecordedToolCall]:
        """Every tool call the model asked for, in order."""
        return [call for model_call in self.model_calls for call in model_call.tool_calls]

    def answer(self) -> str:
        """The result's `answer` (or `report`, `reply`) when it has one, else the last model text."""
        if isinstance(self.result, dict):
            for field in ("answer", "report", "reply"):
                if isinstance(self.result.get(field), str):
                    return str(self.result[field])
        texts = [call.reply.text() for call in self.model_calls if call.reply.text()]
        return texts[-1] if texts else ""

    def replay_input(self) -> dict[str, Any]:
        """The input to run the case again: the recorded one, in eval mode (no side effect is
        performed, no approval asked for one), without what only a workflow or a fork sets."""
        kept = {key: value for key, value in self.input.items() if key not in ("carried", "fork_from")}
        return {**kept, "eval_mode": True}

    def first_model_step(self) -> int | None:
        """The position (1-based, as `status` numbers steps) of the run's first model step."""
        for position, step in enumerate(self.steps, start=1):
            if step.kind == "llm":
                return position
        return None
