"""Tracing and metrics of one process (worker, starter), set up once before it connects to Temporal.

- Traces: a replay-safe TracerProvider (`temporalio.contrib.opentelemetry.create_tracer_provider`:
  deterministic span ids inside workflows, no span ended twice on replay) and Temporal's
  `OpenTelemetryPlugin` on every client made by `common.client`, so a workflow started by the starter
  continues that trace in the worker: StartWorkflow -> RunWorkflow -> StartActivity -> RunActivity ->
  `chat {model}` / `execute_tool {name}`. Workers built from such a client inherit the plugin.
- Export: OTLP over http/protobuf or gRPC, configured by the standard OTEL_* variables; a console
  exporter (OTEL_TRACES_CONSOLE) for local debugging. No exporter: no span is recorded (the sampler
  drops them) and clients get no tracing plugin, so a process that exports nothing pays nothing per
  step for spans nobody reads (docs/benchmarks.md, "Performance at parity"); its runs start no trace
  of their own and pass none on.
- Metrics: an OTel MeterProvider for the product's metrics (`common.metrics`), exported over OTLP;
  in the worker, Temporal's own SDK metrics from the Core runtime on a Prometheus endpoint
  (METRICS_PROMETHEUS_BIND), or over OTLP when only an endpoint is set.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, sampling
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Link, SpanKind, Tracer
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from temporalio.client import Interceptor, Plugin
from temporalio.contrib.opentelemetry import (
    OpenTelemetryPlugin,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)
from temporalio.runtime import OpenTelemetryConfig, PrometheusConfig, Runtime, TelemetryConfig

from common.settings import OtlpProtocol, Settings

__all__ = [
    "OtlpTarget",
    "Telemetry",
    "capture_content",
    "client_interceptors",
    "client_plugins",
    "metric_readers",
    "otlp_target",
    "runtime_metrics",
    "set_capture_content",
    "setup_telemetry",
    "span_exporter",
    "span_processors",
]

log = logging.getLogger(__name__)

Signal = Literal["traces", "metrics"]

# Temporal's Core runtime pushes its SDK metrics this often when it exports over OTLP.
RUNTIME_OTLP_METRICS_INTERVAL = timedelta(seconds=10)


@dataclass(frozen=True)
class OtlpTarget:
    """Where one signal goes: the full URL for http/protobuf, the collector URL for gRPC."""

    endpoint: str
    protocol: OtlpProtocol


def otlp_target(settings: Settings, signal: Signal) -> OtlpTarget | None:
    """The OTLP destination of `signal` per the OTEL_* rules: a signal-specific endpoint is used as
    is; the general endpoint gets `/v1/{signal}` appended for HTTP. None: not configured."""
    if settings.otel_sdk_disabled:
        return None
    if signal == "traces":
        specific, protocol = (
            settings.otel_exporter_otlp_traces_endpoint,
            settings.otel_exporter_otlp_traces_protocol,
        )
    else:
        specific, protocol = (
            settings.otel_exporter_otlp_metrics_endpoint,
            settings.otel_exporter_otlp_metrics_protocol,
        )
    protocol = protocol or settings.otel_exporter_otlp_protocol
    if specific and specific.strip():
        return OtlpTarget(specific.strip(), protocol)
    base = (settings.otel_exporter_otlp_endpoint or "").strip()
    if not base:
        return None
    if protocol == "grpc":
        return OtlpTarget(base, protocol)
    return OtlpTarget(f"{base.rstrip('/')}/v1/{signal}", protocol)


def span_exporter(target: OtlpTarget) -> SpanExporter:
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc(endpoint=target.endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http(endpoint=target.endpoint)


def metric_exporter(target: OtlpTarget) -> MetricExporter:
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as Grpc

        return Grpc(endpoint=target.endpoint)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as Http

    return Http(endpoint=target.endpoint)


def span_processors(settings: Settings) -> list[SpanProcessor]:
    """Batching OTLP export when an endpoint is set; immediate console output when asked for."""
    processors: list[SpanProcessor] = []
    target = otlp_target(settings, "traces")
    if target is not None:
        processors.append(BatchSpanProcessor(span_exporter(target)))
    if settings.otel_traces_console and not settings.otel_sdk_disabled:
        # stderr: the starter's stdout is for its own output (reports, status tables).
        processors.append(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    return processors


def metric_readers(settings: Settings) -> list[MetricReader]:
    """Periodic OTLP export (interval: OTEL_METRIC_EXPORT_INTERVAL, default 60 s) when configured."""
    target = otlp_target(settings, "metrics")
    return [] if target is None else [PeriodicExportingMetricReader(metric_exporter(target))]


def runtime_metrics(settings: Settings) -> PrometheusConfig | OpenTelemetryConfig | None:
    """Where Temporal's Core runtime sends its SDK metrics (task latencies, slots, polls, ...)."""
    if settings.metrics_prometheus_bind:
        return PrometheusConfig(bind_address=settings.metrics_prometheus_bind, durations_as_seconds=True)
    target = otlp_target(settings, "metrics")
    if target is None:
        return None
    return OpenTelemetryConfig(
        url=target.endpoint,
        http=target.protocol == "http/protobuf",
        metric_periodicity=RUNTIME_OTLP_METRICS_INTERVAL,
        durations_as_seconds=True,
    )


def default_service_name() -> str:
    """`ai-workflows-worker` for `python -m worker`, `ai-workflows-starter` for the starter, ..."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    package = spec.name.split(".")[0] if spec is not None and spec.name else ""
    return f"ai-workflows-{package}" if package in {"worker", "starter", "bench", "inbox"} else "ai-workflows"


@dataclass
class Telemetry:
    """What `setup_telemetry` installed in this process."""

    service_name: str
    tracer_provider: ReplaySafeTracerProvider | None  # None: OTEL_SDK_DISABLED
    meter_provider: MeterProvider | None
    runtime: Runtime | None
    capture_content: bool
    exports_metrics: bool = False  # an OTLP metrics endpoint is configured
    sampler: _WhileRecorded | None = None

    def records_spans(self) -> bool:
        return self.sampler is not None and self.sampler.recorded

    def shutdown(self) -> None:
        """Flush and stop the exporters (also happens at interpreter exit)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


_installed: Telemetry | None = None


class _WhileRecorded(sampling.Sampler):
    """Drops every span until a span processor is added (an exporter, or a test's in-memory one),
    then samples as the SDK's default would (OTEL_TRACES_SAMPLER, else parent-based always-on).
    A dropped span is OpenTelemetry's non-recording span: no attributes kept, nothing ended."""

    def __init__(self) -> None:
        self.recorded = False
        self._then = sampling._get_from_env_or_default()

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> sampling.SamplingResult:
        if not self.recorded:
            return sampling.SamplingResult(sampling.Decision.DROP)
        return self._then.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"WhileRecorded{{{self._then.get_description()}}}"


def _record_once_processed(provider: ReplaySafeTracerProvider, sampler: _WhileRecorded) -> None:
    add = provider.add_span_processor

    def adding(processor: SpanProcessor) -> None:
        add(processor)
        sampler.recorded = True

    provider.add_span_processor = adding  # type: ignore[method-assign,assignment]


def setup_telemetry(
    settings: Settings, service_name: str | None = None, *, sdk_metrics: bool = False
) -> Telemetry:
    """Install this process's tracer provider and meter provider; idempotent.

    OpenTelemetry's global providers can be set once per process, so the first call wins; later
    calls return what it installed. `sdk_metrics` (the worker): also give Temporal's runtime its
    metrics endpoint (Prometheus or OTLP); call it before the first Temporal client is made. Other
    processes (starters) leave the runtime alone: they would fight the worker for the Prometheus port.
    """
    global _installed
    if _installed is not None:
        return _installed
    name = (settings.otel_service_name or "").strip() or service_name or default_service_name()
    runtime = _install_runtime(settings, name) if sdk_metrics else None
    if settings.otel_sdk_disabled:
        _installed = Telemetry(name, None, None, runtime, capture_content=False)
        return _installed

    resource = Resource.create({"service.name": name, "service.instance.id": uuid.uuid4().hex})
    sampler = _WhileRecorded()
    tracer_provider = create_tracer_provider(sampler=sampler, resource=resource)
    _cache_tracers(tracer_provider)
    _record_once_processed(tracer_provider, sampler)
    for processor in span_processors(settings):
        tracer_provider.add_span_processor(processor)
    trace.set_tracer_provider(tracer_provider)

    readers = metric_readers(settings)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    metrics.set_meter_provider(meter_provider)

    _installed = Telemetry(
        name,
        tracer_provider,
        meter_provider,
        runtime,
        settings.otel_capture_content,
        exports_metrics=bool(readers),
        sampler=sampler,
    )
    log.debug("telemetry for %s: traces -> %s", name, otlp_target(settings, "traces"))
    return _installed


def _install_runtime(settings: Settings, service_name: str) -> Runtime | None:
    config = runtime_metrics(settings)
    if config is None:
        return None
    runtime = Runtime(telemetry=TelemetryConfig(metrics=config, global_tags={"service_name": service_name}))
    # Clients made after this use it; the worker sets up before it connects, so that is all of them.
    Runtime.set_default(runtime, error_if_already_set=False)
    return runtime


def capture_content() -> bool:
    """Whether spans may carry prompts and completions (OTEL_CAPTURE_CONTENT); off by default."""
    return _installed is not None and _installed.capture_content


def _cache_tracers(provider: ReplaySafeTracerProvider) -> None:
    """Temporal's interceptors and the product's spans ask the provider for a tracer on every span;
    the OTel SDK answers each time with a new replay-safe wrapper, after resetting Python's warnings
    filters (about 15% of the tracing's CPU in a fan-out, docs/benchmarks.md). A tracer holds no
    state of a span, so one per instrumenting module is kept."""
    made: dict[tuple[str, str | None, str | None], Tracer] = {}
    get_tracer = provider.get_tracer

    def cached(
        name: str, version: str | None = None, schema_url: str | None = None, attributes: Attributes = None
    ) -> Tracer:
        if attributes:
            return get_tracer(name, version, schema_url, attributes)
        key = (name, version, schema_url)
        if (tracer := made.get(key)) is None:
            tracer = made[key] = get_tracer(name, version, schema_url)
        return tracer

    provider.get_tracer = cached  # type: ignore[method-assign,assignment]


def set_capture_content(enabled: bool) -> bool:
    """Turn content capture on or off at run time (tests); returns the previous value."""
    if _installed is None:
        raise RuntimeError("setup_telemetry has not run in this process")
    previous, _installed.capture_content = _installed.capture_content, enabled
    return previous


def client_plugins(settings: Settings) -> list[Plugin]:
    """Temporal's OpenTelemetry plugin for a client (and the workers built from it). Sets up this
    process's telemetry on first use, so every entry point that connects through `common.client`
    traces without further code."""
    telemetry = setup_telemetry(settings)
    if telemetry.tracer_provider is None or not isinstance(
        trace.get_tracer_provider(), ReplaySafeTracerProvider
    ):
        # Tracing disabled, or someone else installed a provider the workflow interceptor cannot use.
        return []
    if not telemetry.records_spans():
        # Nothing would receive the spans: their headers and interceptors cost about 5% of a
        # step's CPU. Span ids come from a random of their own (`workflow.new_random`), so a
        # worker with and one without the plugin replay the same workflow alike.
        return []
    # add_temporal_spans: StartWorkflow/RunWorkflow/StartActivity/RunActivity spans make the tree.
    return [OpenTelemetryPlugin(add_temporal_spans=True)]


def client_interceptors(settings: Settings) -> list[Interceptor]:
    """Tracing comes through `client_plugins`; nothing else intercepts the client."""
    return []
