"""GenAI spans over the real Anthropic SDK (against the local Messages-API server): provider name,
cache-token attributes, a failed attempt's `error.type` next to the retry that succeeded, and no
second GenAI span from the SDK itself."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from temporalio.client import Client

from common.settings import Settings
from starter import api
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.scripted_server import Fail
from tests.observability.conftest import trace_of, traced
from worker.app import build_worker
from workflows.models import ResearchInput


async def test_anthropic_calls_carry_provider_cache_tokens_and_error_type(
    ts_client: Client,
    anthropic_settings: Settings,
    anthropic_server: AnthropicServer,
    span_exporter: InMemorySpanExporter,
) -> None:
    anthropic_server.script(Fail(529, "overloaded_error", "Overloaded"), step="plan")
    client = traced(ts_client, anthropic_settings)
    async with build_worker(client, anthropic_settings):
        handle = await api.start_research(
            client,
            ResearchInput(topic="permafrost", max_subtopics=3),
            task_queue=anthropic_settings.temporal_task_queue,
        )
        result = await handle.result()
    spans = trace_of(span_exporter.get_finished_spans(), "StartWorkflow:ResearchWorkflow", handle.id)
    # The product's step spans only: the SDK's own `anthropic.messages.create` span, a second GenAI
    # chat span with the same tokens, is off (GenAI backends would count each call twice).
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert not [s for s in span_exporter.get_finished_spans() if s.name.startswith("anthropic.")]
    plan_attempts = sorted(
        (s for s in chats if (s.attributes or {}).get("ai_workflows.step") == "plan"),
        key=lambda s: s.start_time or 0,
    )

    failed, succeeded = plan_attempts
    failed_attributes = failed.attributes or {}
    assert failed_attributes["error.type"] == "LLMOverloaded"
    assert failed.status.status_code is StatusCode.ERROR
    assert failed_attributes["ai_workflows.attempt"] == 1
    assert "gen_ai.usage.output_tokens" not in failed_attributes
    assert (succeeded.attributes or {})["ai_workflows.attempt"] == 2
    assert "error.type" not in (succeeded.attributes or {})

    llm_steps = {s.step: s for s in result.steps if s.kind == "llm"}
    successful = [s for s in chats if "error.type" not in (s.attributes or {})]
    assert len(successful) == len(llm_steps)
    for span in successful:
        attributes = span.attributes or {}
        step = llm_steps[str(attributes["ai_workflows.step"])]
        assert attributes["gen_ai.provider.name"] == "anthropic"
        assert span.name == "chat " + str(attributes["gen_ai.request.model"])
        assert attributes["gen_ai.response.model"] == step.model
        assert attributes["gen_ai.usage.cache_read.input_tokens"] == step.cache_read_tokens
        assert attributes["gen_ai.usage.cache_creation.input_tokens"] == step.cache_write_tokens
        assert attributes["gen_ai.usage.input_tokens"] == (
            step.input_tokens + step.cache_read_tokens + step.cache_write_tokens
        )
        assert attributes["ai_workflows.cost_usd"] == step.cost_usd
    assert any((s.attributes or {})["gen_ai.usage.cache_read.input_tokens"] for s in successful)

    # No prompt text in any span by default, the SDK's included.
    assert not any("permafrost" in str(value) for span in spans for value in (span.attributes or {}).values())
