"""For tests of workflows of your own: `ScriptedModel`, a model that answers from rules.

    from workflows.kit.testing import ScriptedModel

    model = ScriptedModel([
        {"match": {"step_kind": "agent", "turn": 0},
         "reply": {"tool_calls": [{"name": "calculator", "input": {"expression": "17 * 23"}}]}},
        {"match": {"contains": "391"}, "reply": {"text": "17 * 23 = 391"}},
    ])
    # register model.activity on the test's worker as its `llm.complete` activity, run the workflow,
    # then read model.requests: every LLMRequest the workflow made, in order.

The rules are those of `LLM_SCRIPT_FILE` (docs/building-workflows.md, "Scripted model"); a request no
rule matches gets the offline model's answer. The activity is the real `llm.complete`, so usage,
cost, retries and spans behave as with any provider. For tests only: workflow code never imports
this module (it imports no pytest either).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.base import Heartbeat
from activities.llm.providers.scripted import ScriptedProvider
from common.contracts.llm import LLMRequest, LLMResponse, ProviderReply
from common.llm_script import ScriptRule, parse_script

__all__ = ["ScriptRule", "ScriptedModel"]


class _RecordingProvider(ScriptedProvider):
    """The scripted provider, keeping every request it is asked (a worker's provider keeps none)."""

    def __init__(self, rules: Sequence[ScriptRule]) -> None:
        super().__init__(rules)
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        self.requests.append(request.model_copy(deep=True))
        return await super().complete(request, model, heartbeat)


class ScriptedModel:
    """A model for a test worker. `rules`: dicts in the script-file format, or `ScriptRule`s; a bad
    rule raises `ValueError` (`common.llm_script.ScriptError`) naming it."""

    def __init__(self, rules: Sequence[Mapping[str, Any] | ScriptRule]) -> None:
        self._provider = _RecordingProvider(parse_script(list(rules), "ScriptedModel"))
        self._complete = LLMActivities(self._provider, PriceTable.load()).complete

    @property
    def activity(self) -> Callable[[LLMRequest], Awaitable[LLMResponse]]:
        """The `llm.complete` activity to register on the test's worker."""
        return self._complete

    @property
    def requests(self) -> list[LLMRequest]:
        """Every request the activity received, in order (a retried attempt's request again)."""
        return self._provider.requests

    @property
    def rules(self) -> tuple[ScriptRule, ...]:
        return self._provider.rules
