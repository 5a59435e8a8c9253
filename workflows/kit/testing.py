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
rule matches gets the offline model's answer. Recorded runs (`python -m starter eval export`) replay
as regression cases:

    @pytest.mark.parametrize("case", eval_cases("cases.jsonl"), ids=lambda case: case.workflow_id)
    async def test_case(case, kit_env, kit_worker):
        async with kit_worker(model=ScriptedModel.from_case(case)) as worker:
            result = await kit_env.client.execute_workflow(
                case.workflow_type, case.replay_input(), id=..., task_queue=worker.task_queue)

The activity is the real `llm.complete`, so usage, cost, retries and spans behave as with any
provider. For tests only: workflow code never imports
this module (it imports no pytest either).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from activities.llm.activity import LLMActivities
from activities.llm.pricing import PriceTable
from activities.llm.providers.base import Heartbeat
from activities.llm.providers.scripted import ScriptedProvider
from common.contracts.evals import RecordedRun
from common.contracts.llm import LLMRequest, LLMResponse, ProviderReply
from common.llm_script import ScriptRule, parse_script

__all__ = ["RecordedRun", "ScriptRule", "ScriptedModel", "eval_cases"]


class _RecordingProvider(ScriptedProvider):
    """The scripted provider, keeping every request it is asked (a worker's provider keeps none)."""

    def __init__(self, rules: Sequence[ScriptRule]) -> None:
        super().__init__(rules)
        self.requests: list[LLMRequest] = []
        # Recorded replies by step name (`ScriptedModel.from_case`): they answer before the rules.
        self.recorded: dict[str, ProviderReply] = {}

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        self.requests.append(request.model_copy(deep=True))
        recorded = self.recorded.get(request.step)
        if recorded is not None:
            return recorded.model_copy(deep=True)
        return await super().complete(request, model, heartbeat)


class ScriptedModel:
    """A model for a test worker. `rules`: dicts in the script-file format, or `ScriptRule`s; a bad
    rule raises `ValueError` (`common.llm_script.ScriptError`) naming it."""

    def __init__(self, rules: Sequence[Mapping[str, Any] | ScriptRule]) -> None:
        self._provider = _RecordingProvider(parse_script(list(rules), "ScriptedModel"))
        self._complete = LLMActivities(self._provider, PriceTable.load()).complete

    @classmethod
    def from_case(
        cls, case: RecordedRun, rules: Sequence[Mapping[str, Any] | ScriptRule] = ()
    ) -> ScriptedModel:
        """A model that answers each request of a recorded run (`eval_cases`) with the reply recorded
        for its step (an LLM step's name is unique in a run chain); a step the case did not record
        is answered by `rules`, then the offline model."""
        model = cls(rules)
        for call in case.model_calls:
            reply = call.reply
            model._provider.recorded[call.step] = ProviderReply(
                content=reply.content, stop_reason=reply.stop_reason, usage=reply.usage, model=reply.model
            )
        return model

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


def eval_cases(path: str | Path) -> list[RecordedRun]:
    """The cases of a `python -m starter eval export` file (one recorded run per line), for
    `pytest.mark.parametrize`. A line that is not a recorded run raises `ValueError` naming it."""
    source = Path(path)
    cases: list[RecordedRun] = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cases.append(RecordedRun.model_validate(json.loads(line)))
        except json.JSONDecodeError as error:
            raise ValueError(f"{source}:{number}: not JSON: {error.msg}") from None
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "line"
            raise ValueError(f"{source}:{number}: not a recorded run: {where}: {first['msg']}") from None
    return cases
