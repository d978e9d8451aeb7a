"""OTLP export, switched on by the standard OpenTelemetry environment variables and configured by them.

Spans go to a collector when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set, or
`OTEL_TRACES_EXPORTER` names `otlp`; `OTEL_TRACES_EXPORTER=none` turns it off. The protocol comes from
`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or `grpc`);
endpoint, headers, timeout and compression are read by the exporter itself, as the SDK documents them. Exports
run in the SDK's `BatchSpanProcessor` thread, so a slow collector never slows a run.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ErrorKind, MastraError

__all__ = ["otlp_processor", "otlp_requested"]

_EXTRA = "opentelemetry-exporter-otlp-proto-http"


def otlp_requested(environ: Any = None) -> bool:
    """Whether the environment asks for OTLP export of traces."""
    env = os.environ if environ is None else environ
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()}
    if "none" in exporters:
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool(endpoint) or "otlp" in exporters


def otlp_processor(export: bool | None) -> Any:
    """A `BatchSpanProcessor` around an OTLP exporter, or None when export is off (or not asked for)."""
    if export is False or (export is None and not otlp_requested()):
        return None
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip().lower() or "http/protobuf"
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

            return BatchSpanProcessor(GrpcExporter())
        if protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

            return BatchSpanProcessor(HttpExporter())
    except ImportError as error:
        package = "opentelemetry-exporter-otlp-proto-grpc" if protocol == "grpc" else _EXTRA
        raise ImportError(
            f"OTLP export over {protocol} needs `{package}`: `pip install {package}` (or `pip install "
            f"'mastra_nb[otlp]'`), or unset the OTEL_EXPORTER_OTLP_* variables."
        ) from error
    raise MastraError(
        ErrorKind.VALIDATION,
        "TELEMETRY_OTLP_PROTOCOL_INVALID",
        f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; use `http/protobuf` or `grpc`.",
    )
