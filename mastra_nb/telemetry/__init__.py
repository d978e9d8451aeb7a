"""Observability: traces (stored in the hub's storage; through OpenTelemetry's SDK, and exported over OTLP, when
asked), redaction, structured logging and Prometheus metrics.

Importing this package imports neither opentelemetry nor prometheus-client: prometheus-client loads with the first
span, opentelemetry's SDK only when something outside the hub reads spans (see `tracing`).
"""

from __future__ import annotations

from ..redaction import REDACTED, Redactor, Sensitive
from .logs import JsonFormatter, RedactingFilter, TraceContextFilter, configure_logging, silence
from .tracing import SpanScope, Telemetry

__all__ = [
    "REDACTED", "JsonFormatter", "RedactingFilter", "Redactor", "Sensitive", "SpanScope", "Telemetry",
    "TraceContextFilter", "configure_logging", "silence",
]  # fmt: skip
