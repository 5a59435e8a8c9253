"""The scripted model's rule engine, called directly: the first matching rule answers (by step kind,
turn, text in the last user message or tool result, attempt), a request no rule matches gets the
offline model's answer, scripted errors are the real providers' classified errors, and a bad script
is one line naming the rule and the field. Settings and the factory build it from LLM_SCRIPT_FILE."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.llm.error_types import BAD_REQUEST, OVERLOADED, RATE_LIMITED
from activities.llm.errors import classify_status
from activities.llm.factory import build_llm_activities, build_provider
from activities.llm.providers.offline import OfflineProvider
from activities.llm.providers.scripted import ScriptedProvider, matching_rule
from common.contracts.llm import (
    LLMRequest,
    Message,
    ProviderReply,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
)
from common.llm_script import ScriptError, load_script, parse_script
from common.settings import Settings, SettingsError, try_load_settings

REPO = Path(__file__).resolve().parents[2]
CALCULATOR = ToolSpec(name="calculator", description="Evaluates arithmetic.", input_schema={})


def agent_request(*, turns: int = 0, result: str = "391", goal: str = "What is 17 * 23?") -> LLMRequest:
    """An agent turn after `turns` tool calls, each answered with `result`."""
    messages = [Message.user_text(goal)]
    for turn in range(turns):
        call = ToolUseBlock(id=f"t{turn}", name="calculator", input={"expression": "17 * 23"})
        messages.append(Message(role="assistant", content=[call]))
        messages.append(
            Message(role="user", content=[ToolResultBlock(tool_use_id=f"t{turn}", content=result)])
        )
    return LLMRequest(messages=messages, tools=[CALCULATOR], step_kind="agent")


async def answer(rules: list[Any], request: LLMRequest) -> ProviderReply:
    return await ScriptedProvider(parse_script(rules)).complete(request, "offline-model", lambda: None)


def text_of(reply: ProviderReply) -> str:
    return "".join(block.text for block in reply.content if isinstance(block, TextBlock))


async def test_the_first_matching_rule_answers() -> None:
    rules = [
        {"match": {"step_kind": "plan"}, "reply": {"text": "a plan"}},
        {"match": {"step_kind": "agent"}, "reply": {"text": "first"}},
        {"reply": {"text": "second"}},
    ]
    assert text_of(await answer(rules, agent_request())) == "first"
    chat = LLMRequest(messages=[Message.user_text("hi")])
    assert text_of(await answer(rules, chat)) == "second"  # an empty match matches every request


async def test_turn_counts_the_assistant_messages_already_in_the_request() -> None:
    rules = [
        {
            "match": {"turn": 0},
            "reply": {"tool_calls": [{"name": "calculator", "input": {"expression": "1+1"}}]},
        },
        {"match": {"turn": 1}, "reply": {"text": "done after one call"}},
    ]
    first = await answer(rules, agent_request(turns=0))
    second = await answer(rules, agent_request(turns=1))
    assert first.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in first.content if isinstance(b, ToolUseBlock)] == [
        ("calculator", {"expression": "1+1"})
    ]
    assert second.stop_reason == "end_turn" and text_of(second) == "done after one call"


async def test_tool_calls_get_ids_unique_in_the_conversation() -> None:
    rules = [{"reply": {"tool_calls": [{"name": "calculator"}, {"name": "calculator", "input": {"x": 1}}]}}]
    ids = [
        block.id
        for turns in (0, 1)
        for block in (await answer(rules, agent_request(turns=turns))).content
        if isinstance(block, ToolUseBlock)
    ]
    assert len(ids) == 4 and len(set(ids)) == 4


async def test_contains_looks_at_the_last_user_message_and_the_last_tool_result() -> None:
    rules = [
        {"match": {"contains": "17 * 23"}, "reply": {"text": "saw the goal"}},
        {"match": {"contains": "391"}, "reply": {"text": "saw the result"}},
    ]
    assert text_of(await answer(rules, agent_request(turns=0))) == "saw the goal"
    # Once tool results follow, the goal is no longer the last user message.
    assert text_of(await answer(rules, agent_request(turns=1))) == "saw the result"
    unmatched = await answer(rules, agent_request(turns=1, result="no such number"))
    assert text_of(unmatched).startswith("[scripted model]")
    # The last tool result counts even when a user text follows it.
    request = agent_request(turns=1)
    request.messages.append(Message.user_text("go on"))
    assert text_of(await answer(rules[1:], request)) == "saw the result"


async def test_every_condition_of_a_match_must_hold() -> None:
    rules = [
        {"match": {"step_kind": "agent", "turn": 1, "contains": "391"}, "reply": {"text": "all three"}},
        {"match": {"step_kind": "classify"}, "reply": {"text": "a classification"}},
    ]
    assert text_of(await answer(rules, agent_request(turns=1))) == "all three"
    assert text_of(await answer(rules, agent_request(turns=2))).startswith("[scripted model]")
    classify = LLMRequest(messages=[Message.user_text("391")], step_kind="classify")
    assert text_of(await answer(rules, classify)) == "a classification"


def test_attempt_matches_the_activity_attempt() -> None:
    rules = parse_script(
        [{"match": {"attempt": 1}, "reply": {"error": "rate_limited"}}, {"reply": {"text": "ok"}}]
    )
    assert matching_rule(rules, agent_request(), attempt=1) == 0
    assert matching_rule(rules, agent_request(), attempt=2) == 1


async def test_a_request_no_rule_matches_gets_the_offline_answer_labelled_scripted() -> None:
    rules = [{"match": {"step_kind": "plan"}, "reply": {"text": "never"}}]
    for request in (
        agent_request(turns=1),
        LLMRequest(messages=[Message.user_text("x")], step_kind="triage"),
    ):
        scripted = await answer(rules, request)
        offline = await OfflineProvider().complete(request, "offline-model", lambda: None)
        assert text_of(offline).startswith("[offline model]")
        assert text_of(scripted) == text_of(offline).replace("[offline model]", "[scripted model]")
        assert scripted.usage == offline.usage and scripted.stop_reason == offline.stop_reason
    # ... tool calls included: the offline model's agent calls the calculator on an arithmetic goal.
    first_turn = await answer(rules, agent_request())
    assert [b.name for b in first_turn.content if isinstance(b, ToolUseBlock)] == ["calculator"]


@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [
        ("rate_limited", 429, RATE_LIMITED),
        ("overloaded", 529, OVERLOADED),
        ("invalid_request", 400, BAD_REQUEST),
    ],
)
async def test_scripted_errors_are_the_classified_provider_errors(
    kind: str, status: int, error_type: str
) -> None:
    rules = [{"name": "trouble", "reply": {"error": kind}}]
    with pytest.raises(ApplicationError) as raised:
        await answer(rules, agent_request())
    real = classify_status(provider="anthropic", status=status, headers={}, body={})
    assert raised.value.type == real.type == error_type
    assert raised.value.non_retryable is real.non_retryable is (kind == "invalid_request")
    assert "rule 1 'trouble'" in raised.value.message and "\n" not in raised.value.message
    assert raised.value.details[0]["status"] == status


async def test_usage_is_the_scripted_one_or_estimated_like_the_offline_model() -> None:
    given = await answer(
        [{"reply": {"text": "x", "usage": {"input_tokens": 7, "output_tokens": 3}}}], agent_request()
    )
    assert (given.usage.input_tokens, given.usage.output_tokens, given.model) == (7, 3, "offline-model")
    request = agent_request()
    estimated = await answer([{"reply": {"text": "y" * 40}}], request)
    prompt = request.system + "What is 17 * 23?" + CALCULATOR.name + CALCULATOR.description
    assert estimated.usage.input_tokens == math.ceil(len(prompt) / 4)
    assert estimated.usage.output_tokens == 10


async def test_a_delayed_reply_heartbeats_while_it_waits() -> None:
    beats: list[None] = []
    provider = ScriptedProvider(parse_script([{"reply": {"text": "late", "delay_s": 2.2}}]))
    reply = await provider.complete(agent_request(), "offline-model", lambda: beats.append(None))
    assert text_of(reply) == "late"
    assert len(beats) >= 3  # on arrival, then at least once a second while waiting


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"match": {}}, "script: expected a JSON list of rules, got dict"),
        ([{"reply": {"text": "a"}}, "hello"], "script: rule 2: Input should be a valid dictionary"),
        (
            [{"match": {"turns": 1}, "reply": {"text": "a"}}],
            "rule 1: match.turns: Extra inputs are not permitted",
        ),
        (
            [{"name": "both", "reply": {"text": "a", "error": "overloaded"}}],
            "rule 1 'both': reply: give exactly one",
        ),
        (
            [{"reply": {"usage": {"input_tokens": 1}}}],
            "rule 1: reply: give exactly one of text, tool_calls, error",
        ),
        ([{"reply": {"error": "teapot"}}], "rule 1: reply.error: Input should be 'rate_limited'"),
        (
            [{"match": {"turn": -1}, "reply": {"text": "a"}}],
            "rule 1: match.turn: Input should be greater than",
        ),
        ([{"reply": {"tool_calls": []}}], "rule 1: reply.tool_calls: List should have at least 1 item"),
        ([{"reply": {"tool_calls": [{"input": {}}]}}], "rule 1: reply.tool_calls.0.name: Field required"),
        (
            [{"reply": {"text": "a", "usage": {"prompt_tokens": 1}}}],
            "reply.usage.prompt_tokens: Extra inputs",
        ),
        ([{"reply": {"text": "a"}, "when": {}}], "rule 1: when: Extra inputs are not permitted"),
        ([{"match": {"turn": 0}}], "rule 1: reply: Field required"),
    ],
)
def test_a_bad_script_is_one_line_naming_the_rule(raw: object, expected: str) -> None:
    with pytest.raises(ScriptError) as raised:
        parse_script(raw)
    message = str(raised.value)
    assert expected in message and "\n" not in message, message


def test_a_script_file_that_does_not_read_or_parse_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"reply": {"text": "a"}},\n')
    with pytest.raises(ScriptError, match=r"broken.json: not JSON: .* \(line 2 column 1\)$"):
        load_script(broken)
    with pytest.raises(ScriptError, match=r"missing.json: cannot read: No such file or directory$"):
        load_script(tmp_path / "missing.json")


@pytest.mark.parametrize(
    "script", sorted((REPO / "examples" / "scripts").glob("*.json")), ids=lambda p: p.name
)
def test_the_shipped_example_scripts_parse(script: Path) -> None:
    assert load_script(script)


def script_settings(monkeypatch: pytest.MonkeyPatch, script: Path | None) -> Settings:
    for name in ("LLM_MODEL", "LLM_SCRIPT_FILE", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_PROVIDER", "scripted")
    if script is not None:
        monkeypatch.setenv("LLM_SCRIPT_FILE", str(script))
    return try_load_settings(_env_file=None)


def test_the_scripted_provider_needs_a_script_file(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match=r"^LLM_SCRIPT_FILE: required when LLM_PROVIDER=scripted$"):
        script_settings(monkeypatch, None)


def test_a_script_file_that_does_not_parse_fails_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"reply": {"text": "a"}}, {"reply": {}}]))
    with pytest.raises(SettingsError) as raised:
        script_settings(monkeypatch, script)
    assert str(raised.value) == (
        f"LLM_SCRIPT_FILE: {script}: rule 2: reply: give exactly one of text, tool_calls, error (found none)"
    )


async def test_the_factory_builds_the_scripted_provider(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"match": {"step_kind": "agent"}, "reply": {"text": "from the file"}}]))
    settings = script_settings(monkeypatch, script)
    provider = build_provider(settings)
    assert isinstance(provider, ScriptedProvider) and provider.name == "scripted"
    assert provider.default_model == OfflineProvider.default_model
    response = await build_llm_activities(settings).complete(agent_request())
    assert response.text() == "from the file" and response.provider == "scripted"
    assert response.priced and response.cost_usd > 0  # priced as the offline model
