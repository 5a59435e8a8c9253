"""A model double for evals: a real OpenAI-compatible server (tests/fakes/openai_server.py) that answers
an agent like a small model would and counts the requests of each model. On its first turn it calls
the tool its goal names in `PLANS`; after a tool result it answers with that result. `changed` makes
one model call the tool differently for one goal (a candidate whose answer changes)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from activities.llm.models import TextBlock, ToolResultBlock, ToolUseBlock, Usage
from tests.fakes.openai_server import OpenAIServer, to_llm_request
from tests.fakes.scripted_server import RecordedRequest, Reply

__all__ = ["AgentDouble", "Plan"]


@dataclass(frozen=True)
class Plan:
    tool: str
    arguments: dict[str, Any]


class AgentDouble(OpenAIServer):
    def __init__(self, plans: dict[str, Plan], changed: dict[tuple[str, str], Plan] | None = None) -> None:
        super().__init__()
        self.plans = plans  # goal -> the tool call of the first turn
        self.changed = changed or {}  # (model, goal) -> another tool call

    def requests_per_model(self) -> Counter[str]:
        return Counter(str(request.body.get("model")) for request in self.requests)

    async def answer(self, request: RecordedRequest, reply: Reply) -> Reply:
        asked = to_llm_request(request)
        model = str(request.body.get("model"))
        usage = Usage(input_tokens=200, output_tokens=20)
        results = [b for m in asked.messages for b in m.content if isinstance(b, ToolResultBlock)]
        if results:
            text = f"The answer: {results[-1].content}"
            return Reply(content=[TextBlock(text=text)], stop_reason="end_turn", usage=usage, model=model)
        goal = next(b.text for m in asked.messages for b in m.content if isinstance(b, TextBlock))
        plan = self.changed.get((model, goal)) or self.plans[goal]
        call = ToolUseBlock(id=f"call_{uuid.uuid4().hex[:12]}", name=plan.tool, input=plan.arguments)
        return Reply(content=[call], stop_reason="tool_use", usage=usage, model=model)
