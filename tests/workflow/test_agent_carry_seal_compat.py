"""An agent's carried state sealed by the release before the transcript went through the payload store
must still verify: the seal covers the SHA-256 of the state's JSON as the current model dumps it
(`workflows.kit.context._seal_request`), so a field the model gained must not show up in the dump of
a state that was written without it. Otherwise every agent that continued-as-new just before a
deploy fails its next run with a forged-state `InvalidInput`."""

from __future__ import annotations

import json

from workflows.models import AgentCarryState

# What the previous AgentCarryState (messages, mcp_tools; no `conversation`) dumped, seal cleared:
# the exact text its seal was computed over.
PREVIOUS_RELEASE = (
    '{"iteration":3,"usage":{"input_tokens":0,"output_tokens":0,"cache_read_tokens":0,'
    '"cache_write_tokens":0},"cost_usd":0.0,"budget_usd":null,"steps":[],"decisions":[],'
    '"sources":[],"runs":2,"stream_state":null,"seal":null,'
    '"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"mcp_tools":null}'
)


def sealed_text(state: AgentCarryState) -> str:
    """What `_seal_request` hashes."""
    return state.model_copy(update={"seal": None}).model_dump_json()


def test_a_state_sealed_before_the_stash_dumps_as_it_was_sealed() -> None:
    carried = AgentCarryState.model_validate_json(PREVIOUS_RELEASE)
    assert json.loads(sealed_text(carried)) == json.loads(PREVIOUS_RELEASE)  # the same fields
    assert sealed_text(carried) == PREVIOUS_RELEASE  # and the same bytes: the digest is of them


def test_a_stashed_conversation_is_covered_by_the_seal() -> None:
    stashed = AgentCarryState(conversation="ab" * 32)
    assert '"conversation":"' + "ab" * 32 + '"' in sealed_text(stashed)
    assert sealed_text(stashed) != sealed_text(AgentCarryState(conversation="cd" * 32))
