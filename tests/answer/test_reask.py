"""Validation and re-asks over the Anthropic Messages API (the real SDK against the local server):
the answer is a forced tool call whose input follows the schema; a reply that does not parse, cites a
passage that was not retrieved, or quotes words that are not in its passage is caught and re-asked
with the reasons; one that never becomes valid ends `unverified` after `max_reasks` re-asks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.llm.providers.anthropic import STRUCTURED_OUTPUT_TOOL
from common.contracts.llm import ToolUseBlock
from common.settings import Settings
from tests.answer.support import ANSWER_SENTENCE, CORPUS, QUESTION, answer, index_corpus, index_settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.openai_server import OpenAIServer
from tests.fakes.scripted_server import RecordedRequest, Reply
from worker.app import build_worker
from workflows.answer import AnswerResult

PASSAGE = "tides.md#0"  # the test corpus's tide-pool file is one passage


def structured(answer: str, citations: list[tuple[str, str]]) -> Reply:
    """What the Messages API sends under tool-forced output: one call of the forced tool."""
    payload = {"answer": answer, "citations": [{"passage_id": p, "quote": q} for p, q in citations]}
    block = ToolUseBlock(id="toolu_answer", name=STRUCTURED_OUTPUT_TOOL, input=payload)
    return Reply(content=[block], stop_reason="tool_use")


GROUNDED = structured("Ochre sea stars hunt mussels.", [(PASSAGE, ANSWER_SENTENCE)])


async def ask(
    client: Client,
    settings: Settings,
    server: AnthropicServer,
    tmp_path: Path,
    *replies: Reply,
    **options: object,
) -> AnswerResult:
    settings = index_settings(settings, tmp_path)
    async with build_worker(client, settings):
        await index_corpus(client, settings, CORPUS)
        server.script(*replies)
        return await answer(client, settings, QUESTION, **options)


def generation_requests(server: AnthropicServer) -> list[RecordedRequest]:
    return [r for r in server.requests if r.step_kind == "answer"]


def last_user_text(request: RecordedRequest) -> str:
    content = request.body["messages"][-1]["content"]
    return " ".join(block["text"] for block in content if block["type"] == "text")


async def test_invalid_json_then_valid_is_grounded_after_one_reask(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    result = await ask(
        ts_client,
        anthropic_settings,
        anthropic_server,
        tmp_path,
        Reply.text('{"answer": "Ochre sea'),
        GROUNDED,
    )

    assert result.outcome == "grounded", result.reasons
    assert result.reasks == 1 and result.reasons == []
    assert [(c.source, c.passage_id, c.quote) for c in result.citations] == [
        ("tides.md", PASSAGE, ANSWER_SENTENCE)
    ]
    first, second = generation_requests(anthropic_server)
    # The schema is enforced by the provider: the answer tool, forced.
    assert first.body["tool_choice"] == {"type": "tool", "name": STRUCTURED_OUTPUT_TOOL}
    [tool] = [t for t in first.body["tools"] if t["name"] == STRUCTURED_OUTPUT_TOOL]
    assert set(tool["input_schema"]["properties"]) == {"answer", "citations", "no_answer"}
    assert "not JSON" in last_user_text(second)
    assert [s.step for s in result.steps] == ["retrieve", "generate", "validate 1", "re-ask 1", "validate 2"]
    assert [s.ok for s in result.steps if s.kind == "validation"] == [False, True]


async def test_a_citation_of_a_passage_not_retrieved_is_caught_and_reasked(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    invented = structured("Sea stars eat mussels.", [("tides.md#7", ANSWER_SENTENCE)])
    result = await ask(ts_client, anthropic_settings, anthropic_server, tmp_path, invented, GROUNDED)

    assert (result.outcome, result.reasks) == ("grounded", 1)
    _, second = generation_requests(anthropic_server)
    assert "'tides.md#7', which was not retrieved" in last_user_text(second)
    [failed] = [s for s in result.steps if s.kind == "validation" and not s.ok]
    assert "not retrieved" in failed.detail


async def test_a_quote_that_is_not_in_its_passage_is_caught(
    ts_client: Client, anthropic_settings: Settings, anthropic_server: AnthropicServer, tmp_path: Path
) -> None:
    misquoted = structured("Sea stars eat kelp.", [(PASSAGE, "The ochre sea star eats kelp at night.")])
    # Whitespace and case do not matter to the check; words do.
    respaced = structured(
        "Ochre sea stars hunt mussels.", [(PASSAGE, "  THE OCHRE sea star\nhunts mussels  ")]
    )
    result = await ask(ts_client, anthropic_settings, anthropic_server, tmp_path, misquoted, respaced)

    assert (result.outcome, result.reasks) == ("grounded", 1)
    _, second = generation_requests(anthropic_server)
    assert "is not in passage 'tides.md#0'" in last_user_text(second)


@pytest.mark.parametrize("max_reasks", [0, 2])
async def test_always_invalid_is_unverified_after_max_reasks_with_reasons(
    ts_client: Client,
    anthropic_settings: Settings,
    anthropic_server: AnthropicServer,
    tmp_path: Path,
    max_reasks: int,
) -> None:
    bad = structured("Sea stars eat kelp.", [(PASSAGE, "sea stars eat kelp")])
    replies = [bad] * (max_reasks + 1) + [GROUNDED]  # one valid reply more than the run may ask for
    result = await ask(
        ts_client, anthropic_settings, anthropic_server, tmp_path, *replies, max_reasks=max_reasks
    )

    assert result.outcome == "unverified"
    assert result.reasks == max_reasks
    assert len(generation_requests(anthropic_server)) == max_reasks + 1
    assert anthropic_server.pending == 1  # the valid reply was never asked for
    assert result.reasons == ["citation 1: the quote 'sea stars eat kelp' is not in passage 'tides.md#0'"]
    assert result.answer == "Sea stars eat kelp."  # the last reply, labelled unverified by the outcome
    assert json.loads(result.model_dump_json())["outcome"] == "unverified"


async def test_over_an_openai_compatible_server_the_schema_goes_in_response_format(
    ts_client: Client, openai_settings: Settings, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    settings = index_settings(openai_settings, tmp_path)
    async with build_worker(ts_client, settings):
        await index_corpus(ts_client, settings, CORPUS)
        result = await answer(ts_client, settings, QUESTION)

    assert result.outcome == "grounded" and result.citations[0].source == "tides.md"
    [request] = [r for r in openai_server.requests if r.step_kind == "answer"]
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert set(response_format["json_schema"]["schema"]["properties"]) == {"answer", "citations", "no_answer"}
