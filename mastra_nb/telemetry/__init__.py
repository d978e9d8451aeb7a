"""Observability: traces on OpenTelemetry (stored in the hub's storage, exported over OTLP when asked), redaction,
structured logging and Prometheus metrics.

Importing this package imports neither opentelemetry nor prometheus-client: they load with the first span.
"""

from __future__ import annotations

from ..redaction import REDACTED, Redactor, Sensitive
from .logs import JsonFormatter, RedactingFilter, TraceContextFilter, configure_logging, silence
from .tracing import SpanScope, Telemetry

__all__ = [
    "REDACTED", "JsonFormatter", "RedactingFilter", "Redactor", "Sensitive", "SpanScope", "Telemetry",
    "TraceContextFilter", "configure_logging", "silence",
]  # fmt: skip
