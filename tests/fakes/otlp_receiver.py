"""A local OTLP receiver, standing in for the OpenTelemetry Collector: the real exporters talk to it.

`OtlpHttpReceiver` accepts `POST /v1/traces` and `POST /v1/metrics` (http/protobuf, gzip or not) and
`OtlpGrpcReceiver` the gRPC TraceService; both decode the protobuf requests with
`opentelemetry-proto` into plain records a test can assert on, and let a test wait (on a condition
variable, not a sleep) until what it expects has arrived.

    with OtlpHttpReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        ...
        spans = receiver.wait_for_spans(lambda spans: any(s.name == "chat offline-model" for s in spans))
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str  # hex, as in W3C traceparent
    span_id: str
    parent_span_id: str  # "" for a root span
    name: str
    kind: int  # opentelemetry.proto.trace.v1.Span.SpanKind
    service: str
    attributes: dict[str, Any]
    start_ns: int
    end_ns: int
    status_code: int


@dataclass(frozen=True)
class ReceivedMetric:
    name: str
    service: str
    points: list[tuple[dict[str, Any], float]]  # (attributes, value or histogram sum)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def decode_traces(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=span.kind,
                        service=service,
                        attributes=_attributes(span.attributes),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=span.status.code,
                    )
                )
    return spans


def decode_metrics(request: ExportMetricsServiceRequest) -> list[ReceivedMetric]:
    received = []
    for resource_metrics in request.resource_metrics:
        service = str(_attributes(resource_metrics.resource.attributes).get("service.name", ""))
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                data = metric.WhichOneof("data")
                points: list[tuple[dict[str, Any], float]] = []
                if data in ("sum", "gauge"):
                    for point in getattr(metric, data).data_points:
                        number = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
                        points.append((_attributes(point.attributes), float(number)))
                elif data == "histogram":
                    for hist in metric.histogram.data_points:
                        points.append((_attributes(hist.attributes), hist.sum))
                received.append(ReceivedMetric(metric.name, service, points))
    return received


@dataclass
class _Store:
    spans: list[ReceivedSpan] = field(default_factory=list)
    metrics: list[ReceivedMetric] = field(default_factory=list)
    requests: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, spans: list[ReceivedSpan] = [], metrics: list[ReceivedMetric] = []) -> None:  # noqa: B006
        with self.changed:
            self.spans.extend(spans)
            self.metrics.extend(metrics)
            self.requests += 1
            self.changed.notify_all()

    def wait(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        with self.changed:
            if not self.changed.wait_for(ready, timeout=timeout_s):
                raise TimeoutError(f"OTLP receiver: {what} did not arrive within {timeout_s} s")


class _Receiver:
    def __init__(self) -> None:
        self._store = _Store()

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._store.changed:
            return list(self._store.spans)

    @property
    def metrics(self) -> list[ReceivedMetric]:
        with self._store.changed:
            return list(self._store.metrics)

    def wait_for_spans(
        self, ready: Callable[[list[ReceivedSpan]], bool], timeout_s: float = 30.0
    ) -> list[ReceivedSpan]:
        self._store.wait(lambda: ready(self._store.spans), timeout_s, "the expected spans")
        return self.spans

    def wait_for_metrics(
        self, ready: Callable[[list[ReceivedMetric]], bool], timeout_s: float = 30.0
    ) -> list[ReceivedMetric]:
        self._store.wait(lambda: ready(self._store.metrics), timeout_s, "the expected metrics")
        return self.metrics


class OtlpHttpReceiver(_Receiver):
    """OTLP/HTTP (protobuf) on 127.0.0.1, an ephemeral port; `endpoint` is the base URL."""

    def __init__(self) -> None:
        super().__init__()
        store = self._store

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_error(415, "expected application/x-protobuf")
                    return
                if self.path == "/v1/traces":
                    traces = ExportTraceServiceRequest.FromString(body)
                    store.add(spans=decode_traces(traces))
                    reply = ExportTraceServiceResponse().SerializeToString()
                elif self.path == "/v1/metrics":
                    metrics = ExportMetricsServiceRequest.FromString(body)
                    store.add(metrics=decode_metrics(metrics))
                    reply = ExportMetricsServiceResponse().SerializeToString()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OtlpHttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class OtlpGrpcReceiver(_Receiver):
    """The OTLP gRPC TraceService on 127.0.0.1, an ephemeral port; `endpoint` is its URL."""

    def __init__(self) -> None:
        super().__init__()
        store = self._store

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:
                store.add(spans=decode_traces(request))
                return ExportTraceServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), self._server)
        self._port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> OtlpGrpcReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)
