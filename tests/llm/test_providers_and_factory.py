"""Provider choice from settings, offline determinism, and whole workflows over the fake servers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from activities.llm.factory import build_llm_activities, build_provider
from activities.llm.models import LLMRequest, Message, ToolSpec, Usage
from activities.llm.pricing import OFFLINE_MODEL_PRICE, ModelPrice, PriceTable, Quote
from activities.llm.providers.anthropic import DEFAULT_ANTHROPIC_MODEL, AnthropicProvider
from activities.llm.providers.offline import OfflineProvider
from activities.llm.providers.openai import DEFAULT_OPENAI_MODEL, OpenAICompatibleProvider
from common.settings import Settings
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.openai_server import OpenAIServer
from tests.llm.call_workflow import LLMCallInput
from tests.llm.harness import run_call
from worker.app import build_worker
from workflows.models import ResearchInput, ResearchResult
from workflows.research import ResearchWorkflow


def test_build_provider_follows_llm_provider(settings: Settings) -> None:
    assert isinstance(build_provider(settings), OfflineProvider)

    anthropic = build_provider(
        settings.model_copy(update={"llm_provider": "anthropic", "anthropic_api_key": SecretStr("k")})
    )
    assert isinstance(anthropic, AnthropicProvider) and anthropic.default_model == DEFAULT_ANTHROPIC_MODEL

    openai = build_provider(
        settings.model_copy(
            update={
                "llm_provider": "openai",
                "openai_base_url": "http://localhost:11434/v1",
                "llm_model": "qwen3",
            }
        )
    )
    assert isinstance(openai, OpenAICompatibleProvider) and openai.default_model == "qwen3"
    no_model = build_provider(
        settings.model_copy(update={"llm_provider": "openai", "openai_base_url": "http://x/v1"})
    )
    assert no_model.default_model == DEFAULT_OPENAI_MODEL


def test_only_the_configured_providers_sdk_is_imported() -> None:
    """A replacement worker's start-up is part of crash recovery: a worker that does not use the
    anthropic SDK must not pay for importing it (the slowest import of a start by far)."""
    probe = (
        "import sys\n"
        "from activities.llm.factory import build_provider\n"
        "from common.settings import Settings\n"
        "import worker.__main__, worker.app\n"
        "build_provider(Settings(llm_provider='offline', _env_file=None))\n"
        "before = 'anthropic' in sys.modules\n"
        "build_provider(Settings(llm_provider='anthropic', anthropic_api_key='k', _env_file=None))\n"
        "print(before, 'anthropic' in sys.modules)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.split() == ["False", "True"], loaded.stderr


def test_pricing_file_extends_and_overrides_the_table(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {
                "llama3.1": {"input": 0.1, "output": 0.2, "cache_write": 0.0, "cache_read": 0.0},
                "claude-haiku-4-5": {"input": 9.0, "output": 9.0, "cache_write": 9.0, "cache_read": 9.0},
            }
        )
    )
    table = PriceTable.load(prices)
    assert table.price_for("llama3.1:8b") == table.price_for("llama3.1")  # a tag shares its model's price
    assert table.price_for("claude-haiku-4-5-20251001") is not None
    assert table.price_for("claude-haiku-4-5-20251001").input == 9.0  # type: ignore[union-attr]
    assert table.price_for("claude-sonnet-5-5") == PriceTable.load().price_for("claude-sonnet-5-5")
    assert table.price_for("unknown-model") is None


async def test_offline_provider_is_deterministic() -> None:
    request = LLMRequest(
        system="You are an agent.",
        messages=[Message.user_text("What is 12 * 7, and what time is it?")],
        tools=[
            ToolSpec(name="calculator", description="math", input_schema={"type": "object"}),
            ToolSpec(name="current_time", description="clock", input_schema={"type": "object"}),
        ],
        step_kind="agent",
    )
    first = await OfflineProvider().complete(request, "offline-model", lambda: None)
    second = await OfflineProvider().complete(request.model_copy(deep=True), "offline-model", lambda: None)
    assert first == second
    assert [call.name for call in first.content if call.type == "tool_use"] == ["calculator", "current_time"]
    other = await OfflineProvider().complete(
        request.model_copy(update={"messages": [Message.user_text("What is 3 + 4?")]}),
        "offline-model",
        lambda: None,
    )
    assert other != first


async def test_offline_activity_gives_the_same_response_for_the_same_request(
    ts_client: Client, settings: Settings
) -> None:
    request = LLMRequest(
        messages=[Message.user_text("Quantum error correction")], step_kind="plan", step="plan"
    )
    first = await run_call(ts_client, settings, LLMCallInput(request=request))
    second = await run_call(ts_client, settings, LLMCallInput(request=request))
    assert first.response is not None and second.response is not None
    assert first.response.content == second.response.content
    assert first.response.usage == second.response.usage
    assert first.response.cost_usd == second.response.cost_usd > 0
    assert "Quantum error correction" in first.response.text()


async def test_llm_activities_use_the_configured_default_model(settings: Settings) -> None:
    activities = build_llm_activities(settings.model_copy(update={"llm_model": "offline-custom"}))
    assert activities._default_model == "offline-custom"


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
async def test_research_workflow_runs_end_to_end_over_each_protocol(
    ts_client: Client,
    anthropic_settings: Settings,
    anthropic_server: AnthropicServer,
    openai_settings: Settings,
    openai_server: OpenAIServer,
    protocol: str,
) -> None:
    """Unscripted, the fake servers answer like the offline model for each step kind, so a whole
    workflow runs over the real protocol; requests are counted per step."""
    settings, server = (
        (anthropic_settings, anthropic_server)
        if protocol == "anthropic"
        else (openai_settings, openai_server)
    )
    workflow_id = f"research-{protocol}-{settings.temporal_task_queue}"
    async with build_worker(ts_client, settings):
        result: ResearchResult = await ts_client.execute_workflow(
            ResearchWorkflow.run,
            ResearchInput(topic="Durable execution", max_subtopics=2),
            id=workflow_id,
            task_queue=settings.temporal_task_queue,
        )

    assert len(result.subtopics) == 2 and "[offline model]" in result.report
    per_step = server.requests_per_step()
    assert {step.removeprefix(workflow_id + "/") for step in per_step} >= {"plan", "synthesize"}
    assert all(count == 1 for count in per_step.values()), per_step
    assert result.usage.input_tokens > 0 and result.cost_usd >= 0


def test_prices_come_from_genai_prices_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The maintained table prices Anthropic and OpenAI models, cache tokens at their own rates,
    without a network: genai-prices' bundled snapshot, never a fetch at run time."""
    import socket

    from genai_prices import data_snapshot

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("pricing tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    table = PriceTable.load(provider_id="anthropic")
    usage = Usage(input_tokens=1200, output_tokens=345, cache_write_tokens=2048, cache_read_tokens=4096)
    haiku = table.price_for("claude-haiku-4-5-20251001")  # a dated snapshot: its model's price
    assert haiku == ModelPrice(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10)
    quote = table.quote("claude-haiku-4-5", usage)
    assert quote.priced
    assert quote.cost_usd == pytest.approx((1200 * 1.0 + 345 * 5.0 + 2048 * 1.25 + 4096 * 0.10) / 1e6)
    assert table.is_priced("gpt-4o-mini")  # another provider's model, found by its name
    assert not data_snapshot.get_snapshot().from_auto_update


def test_unpriced_and_nominal_models() -> None:
    table = PriceTable.load()
    assert table.quote("house-model-7", Usage(input_tokens=1000)) == Quote(0.0, priced=False)
    assert table.cost("house-model-7", Usage(input_tokens=1000)) == 0.0
    # The offline model is nominally priced, so budgets behave as with a real model.
    assert table.price_for("offline-model") == OFFLINE_MODEL_PRICE
    assert table.quote("offline-model", Usage(input_tokens=1_000_000)) == Quote(1.0, priced=True)
