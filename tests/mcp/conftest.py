from tests.llm.conftest import unused_port_url
from tests.observability.conftest import span_exporter, telemetry

__all__ = ["span_exporter", "telemetry", "unused_port_url"]
