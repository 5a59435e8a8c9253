"""Which exporters the OTEL_* settings make, and real OTLP exporters (HTTP and gRPC) reaching a local
receiver. The process-wide setup itself is exercised by the worker-process test in test_otlp_export."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from temporalio.runtime import OpenTelemetryConfig, PrometheusConfig

from common.settings import Settings, SettingsError, try_load_settings
from common.telemetry import (
    OtlpTarget,
    metric_readers,
    otlp_target,
    runtime_metrics,
    span_exporter,
    span_processors,
)
from tests.fakes.otlp_receiver import OtlpGrpcReceiver, OtlpHttpReceiver

OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_CONSOLE",
    "METRICS_PROMETHEUS_BIND",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _settings() -> Settings:
    return try_load_settings(_env_file=None, llm_provider="offline")


def test_no_endpoint_means_no_exporter(env: pytest.MonkeyPatch) -> None:
    settings = _settings()
    assert otlp_target(settings, "traces") is None and otlp_target(settings, "metrics") is None
    assert span_processors(settings) == []
    assert metric_readers(settings) == []
    assert runtime_metrics(settings) is None


def test_general_endpoint_gets_signal_paths_over_http(env: pytest.MonkeyPatch) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    settings = _settings()
    assert otlp_target(settings, "traces") == OtlpTarget("http://collector:4318/v1/traces", "http/protobuf")
    assert otlp_target(settings, "metrics") == OtlpTarget("http://collector:4318/v1/metrics", "http/protobuf")
    (processor,) = span_processors(settings)
    assert isinstance(processor, BatchSpanProcessor)
    assert len(metric_readers(settings)) == 1
    runtime = runtime_metrics(settings)
    assert isinstance(runtime, OpenTelemetryConfig)
    assert runtime.url == "http://collector:4318/v1/metrics" and runtime.http


def test_grpc_and_signal_specific_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:4318/custom")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf")
    settings = _settings()
    assert otlp_target(settings, "traces") == OtlpTarget("http://collector:4317", "grpc")
    assert otlp_target(settings, "metrics") == OtlpTarget("http://metrics:4318/custom", "http/protobuf")


def test_prometheus_bind_takes_the_sdk_metrics(env: pytest.MonkeyPatch) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    env.setenv("METRICS_PROMETHEUS_BIND", "0.0.0.0:9464")
    runtime = runtime_metrics(_settings())
    assert isinstance(runtime, PrometheusConfig) and runtime.bind_address == "0.0.0.0:9464"


def test_sdk_disabled_exports_nothing(env: pytest.MonkeyPatch) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    env.setenv("OTEL_TRACES_CONSOLE", "true")
    env.setenv("OTEL_SDK_DISABLED", "true")
    settings = _settings()
    assert span_processors(settings) == [] and metric_readers(settings) == []


def test_console_exporter_for_local_debugging(env: pytest.MonkeyPatch) -> None:
    env.setenv("OTEL_TRACES_CONSOLE", "true")
    (processor,) = span_processors(_settings())
    assert isinstance(processor, SimpleSpanProcessor)


def test_unknown_protocol_is_a_clear_settings_error(env: pytest.MonkeyPatch) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        _settings()


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_real_exporter_reaches_a_receiver(env: pytest.MonkeyPatch, protocol: str) -> None:
    receiver_class = OtlpHttpReceiver if protocol == "http/protobuf" else OtlpGrpcReceiver
    with receiver_class() as receiver:
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        target = otlp_target(_settings(), "traces")
        assert target is not None
        # A private provider: the process-global one belongs to the session's tracing tests.
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(span_exporter(target)))
        with provider.get_tracer("test").start_as_current_span("probe", attributes={"k": "v"}):
            pass
        provider.shutdown()
        (span,) = receiver.wait_for_spans(lambda spans: len(spans) >= 1, timeout_s=10)
    assert span.name == "probe" and span.attributes == {"k": "v"}
