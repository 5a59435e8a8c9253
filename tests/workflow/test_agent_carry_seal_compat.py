"""An agent's carried state sealed by an earlier release must still verify: the seal covers the
SHA-256 of the state's JSON as the current model dumps it (`workflows.kit.context.sealed_text`), so a
field the model gained must not show up in the dump of a state that was written without it, and the
step records are dumped in full, as they were sealed, though the carried JSON now leaves out their
defaults. Otherwise every agent that continued-as-new just before a deploy fails its next run with a
forged-state `InvalidInput`."""

from __future__ import annotations

import json

from pydantic_core import to_json

from workflows.kit.context import sealed_text
from workflows.models import AgentCarryState, StepRecord

# What the previous AgentCarryState (messages, mcp_tools; no `conversation`) dumped, seal cleared:
# the exact text its seal was computed over.
PREVIOUS_RELEASE = (
    '{"iteration":3,"usage":{"input_tokens":0,"output_tokens":0,"cache_read_tokens":0,'
    '"cache_write_tokens":0},"cost_usd":0.0,"budget_usd":null,"steps":[],"decisions":[],'
    '"sources":[],"runs":2,"stream_state":null,"seal":null,'
    '"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"mcp_tools":null}'
)
# The same state with two step records, as the release before compact step records dumped it.
PREVIOUS_WITH_STEPS = PREVIOUS_RELEASE.replace(
    '"steps":[]',
    '"steps":[{"step":"llm 1","kind":"llm","model":"claude-haiku-4-5","input_tokens":120,'
    '"output_tokens":30,"cache_read_tokens":0,"cache_write_tokens":0,"latency_ms":12.5,'
    '"cost_usd":0.00027,"ok":true,"detail":"","retried_input_tokens":0,"retried_output_tokens":0,'
    '"retried_attempts":0,"priced":true,"reused":false},{"step":"tool 1","kind":"tool","model":null,'
    '"input_tokens":0,"output_tokens":0,"cache_read_tokens":0,"cache_write_tokens":0,'
    '"latency_ms":3.0,"cost_usd":0.0,"ok":false,"detail":"calculator: division by zero",'
    '"retried_input_tokens":0,"retried_output_tokens":0,"retried_attempts":0,"priced":true,'
    '"reused":false}]',
)


def test_a_state_sealed_before_the_stash_dumps_as_it_was_sealed() -> None:
    carried = AgentCarryState.model_validate_json(PREVIOUS_RELEASE)
    assert json.loads(sealed_text(carried)) == json.loads(PREVIOUS_RELEASE)  # the same fields
    assert sealed_text(carried) == PREVIOUS_RELEASE  # and the same bytes: the digest is of them


def test_a_stashed_conversation_is_covered_by_the_seal() -> None:
    stashed = AgentCarryState(conversation="ab" * 32)
    assert '"conversation":"' + "ab" * 32 + '"' in sealed_text(stashed)
    assert sealed_text(stashed) != sealed_text(AgentCarryState(conversation="cd" * 32))


def test_step_records_are_sealed_in_full_and_carried_without_their_defaults() -> None:
    carried = AgentCarryState.model_validate_json(PREVIOUS_WITH_STEPS)
    assert sealed_text(carried) == PREVIOUS_WITH_STEPS

    sent = json.loads(to_json(carried))  # what the converter writes into the next run's input
    assert sent["steps"] == [
        {"step": "llm 1", "kind": "llm", "model": "claude-haiku-4-5", "input_tokens": 120,
         "output_tokens": 30, "latency_ms": 12.5, "cost_usd": 0.00027},
        {"step": "tool 1", "kind": "tool", "latency_ms": 3.0, "ok": False, "detail": "calculator: division by zero"},
    ]  # fmt: skip
    received = AgentCarryState.model_validate_json(to_json(carried))
    assert received == carried and sealed_text(received) == PREVIOUS_WITH_STEPS
    assert received.steps[1] == StepRecord.model_validate(json.loads(PREVIOUS_WITH_STEPS)["steps"][1])


def test_stashed_step_records_are_covered_by_the_seal() -> None:
    stashed = AgentCarryState(steps_stash="ab" * 32)
    assert '"steps":[],"steps_stash":"' + "ab" * 32 + '"' in sealed_text(stashed)
    assert sealed_text(stashed) != sealed_text(AgentCarryState(steps_stash="cd" * 32))
    assert "steps_stash" not in sealed_text(AgentCarryState())  # left out when the steps are inline
