"""`workflows.kit.testing.ScriptedModel` behind an agent run on the time-skipping server: its tool
calls reach the real built-in calculator and the model sees the observation in its next request; a
scripted rate limit is retried by Temporal and the run completes; usage and cost are the real
activity's."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import Client

from activities.kit import BUILTIN_TOOLS
from activities.run_state import RUN_STATE_ACTIVITIES
from common.contracts.llm import ToolResultBlock, ToolUseBlock
from common.llm_script import ScriptError, ScriptRule
from common.settings import Settings
from worker.app import build_worker
from workflows.agent import AgentWorkflow
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput, AgentResult

CALCULATOR = next(tool for tool in BUILTIN_TOOLS if tool.name == "calculator")


async def run_agent(
    client: Client, settings: Settings, model: ScriptedModel, params: AgentInput
) -> AgentResult:
    activities: list[Callable[..., Any]] = [model.activity, CALCULATOR.activity, *RUN_STATE_ACTIVITIES]
    async with build_worker(client, settings, activities=activities):
        return await client.execute_workflow(
            AgentWorkflow.run,
            params,
            id=f"scripted-agent-{uuid.uuid4().hex[:10]}",
            task_queue=settings.temporal_task_queue,
        )


async def test_an_agent_calls_the_calculator_then_answers_from_its_result(
    ts_client: Client, settings: Settings
) -> None:
    model = ScriptedModel(
        [
            {
                "name": "calculate",
                "match": {"step_kind": "agent", "turn": 0},
                "reply": {"tool_calls": [{"name": "calculator", "input": {"expression": "6 * 7"}}]},
            },
            {"match": {"step_kind": "agent", "contains": "42"}, "reply": {"text": "six sevens are 42"}},
        ]
    )
    params = AgentInput(goal="What are six sevens?", tools=["calculator"])
    result = await run_agent(ts_client, settings, model, params)

    assert result.outcome == "completed" and result.answer == "six sevens are 42"
    assert [s.kind for s in result.steps] == ["llm", "tool", "llm"]
    first, second = model.requests
    assert first.step_kind == "agent" and [t.name for t in first.tools] == ["calculator"]
    [call] = [b for m in second.messages for b in m.content if isinstance(b, ToolUseBlock)]
    [observation] = [b for m in second.messages for b in m.content if isinstance(b, ToolResultBlock)]
    assert (call.name, call.input) == ("calculator", {"expression": "6 * 7"})
    assert observation.tool_use_id == call.id and observation.content == "42" and not observation.is_error
    # The real activity priced both calls as the offline model.
    assert result.cost_usd > 0 and all(s.priced and s.cost_usd > 0 for s in result.steps if s.kind == "llm")


async def test_a_scripted_rate_limit_is_retried_by_temporal_and_the_run_completes(
    ts_client: Client, settings: Settings
) -> None:
    model = ScriptedModel(
        [
            {
                "match": {"attempt": 1},
                "reply": {"error": "rate_limited", "usage": {"input_tokens": 100}},
            },
            {"reply": {"text": "answered on the retry", "usage": {"input_tokens": 10, "output_tokens": 5}}},
        ]
    )
    result = await run_agent(ts_client, settings, model, AgentInput(goal="Say hello", tools=["calculator"]))

    assert result.outcome == "completed" and result.answer == "answered on the retry"
    assert len(model.requests) == 2 and model.requests[0] == model.requests[1]
    [step] = [s for s in result.steps if s.kind == "llm"]
    assert step.retried_attempts == 1 and step.retried_input_tokens == 100
    assert step.input_tokens == 110 and step.output_tokens == 5  # the failed attempt's spend counts


async def test_a_rule_may_be_given_as_a_rule_object(ts_client: Client, settings: Settings) -> None:
    rule = ScriptRule.model_validate({"match": {"step_kind": "agent"}, "reply": {"text": "from an object"}})
    model = ScriptedModel([rule])
    result = await run_agent(ts_client, settings, model, AgentInput(goal="Anything", tools=["calculator"]))
    assert result.answer == "from an object" and len(model.requests) == 1


def test_a_bad_rule_is_refused_at_once_naming_it() -> None:
    with pytest.raises(ScriptError, match=r"^ScriptedModel: rule 2 'oops': reply.error: Input should be"):
        ScriptedModel([{"reply": {"text": "fine"}}, {"name": "oops", "reply": {"error": "slow"}}])


def test_importing_the_testing_module_imports_no_pytest() -> None:
    probe = "import sys, workflows.kit.testing; print('pytest' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
