"""Tracing fixtures. OpenTelemetry's global tracer provider can be set once per process, so the whole
session shares the provider `common.telemetry.setup_telemetry` installs; an in-memory exporter is
added to it once, and each test reads only the spans of its own trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from common import metrics
from common.settings import Settings, try_load_settings
from common.telemetry import Telemetry, client_plugins, set_capture_content, setup_telemetry

_memory = InMemorySpanExporter()


def quiet_settings() -> Settings:
    """Tracing on, but no exporter of the developer's shell: spans go only where a test puts them."""
    return try_load_settings(
        _env_file=None,
        otel_exporter_otlp_endpoint=None,
        otel_exporter_otlp_traces_endpoint=None,
        otel_exporter_otlp_metrics_endpoint=None,
        otel_traces_console=False,
        otel_sdk_disabled=False,
        metrics_prometheus_bind=None,
    )


@pytest.fixture(scope="session")
def telemetry() -> Telemetry:
    installed = setup_telemetry(quiet_settings(), "ai-workflows-tests")
    if installed.tracer_provider is None:
        pytest.fail("telemetry was set up with OTEL_SDK_DISABLED in this process; tracing tests need it on")
    installed.tracer_provider.add_span_processor(SimpleSpanProcessor(_memory))
    return installed


@pytest.fixture
def span_exporter(telemetry: Telemetry) -> InMemorySpanExporter:
    _memory.clear()
    return _memory


@pytest.fixture
def capture_on(telemetry: Telemetry) -> Iterator[None]:
    previous = set_capture_content(True)
    yield
    set_capture_content(previous)


@pytest.fixture
def metric_reader() -> Iterator[InMemoryMetricReader]:
    """The product's instruments, read in memory for this test."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    previous = metrics.install(metrics.AiMetrics(provider.get_meter(metrics.METER_NAME)))
    yield reader
    metrics.install(previous)
    provider.shutdown()


def traced(client: Client, settings: Settings) -> Client:
    """`client` with the tracing plugin `common.client.connect` adds (the conftest clients have none)."""
    config = client.config()
    config["plugins"] = [*config.get("plugins", []), *client_plugins(settings)]
    return Client(**config)


def trace_of(
    spans: tuple[ReadableSpan, ...] | list[ReadableSpan], root_name: str, workflow_id: str
) -> list[ReadableSpan]:
    """The spans of the trace whose root is `root_name` for `workflow_id`."""
    roots = [
        s
        for s in spans
        if s.name == root_name
        and s.parent is None
        and (s.attributes or {}).get("temporalWorkflowID") == workflow_id
    ]
    assert len(roots) == 1, f"expected one {root_name} root for {workflow_id}, got {len(roots)}"
    trace_id = roots[0].context.trace_id
    return [s for s in spans if s.context.trace_id == trace_id]
