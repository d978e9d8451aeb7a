"""Logging: stdlib `logging`, per-component loggers under `mastra_nb`, JSON lines, trace ids, redaction.

The library logs to `mastra_nb.<component>` loggers (`mastra_nb.agents`, `mastra_nb.tools.add`, ...) and installs
no handler of its own: where records go is the application's choice. `configure_logging()` is the one-line choice
for a notebook or a server: a handler on the `mastra_nb` logger that stamps each record with the trace and span
it happened in, masks secrets, and writes text or one JSON object a line. `silence()` (what `Mastra(logger=False)`
does) turns the library's logging off.

`TraceContextFilter` and `RedactingFilter` can be added to handlers of your own.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import IO, Any

from ..redaction import LOG_RECORD_ATTRIBUTES, RedactingFilter, Redactor
from .tracing import current_ids

__all__ = ["JsonFormatter", "RedactingFilter", "TraceContextFilter", "configure_logging", "silence"]

LIBRARY_LOGGER = "mastra_nb"
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [trace=%(trace_id)s span=%(span_id)s] %(message)s"


class TraceContextFilter(logging.Filter):
    """Sets `record.trace_id` and `record.span_id` to the span the record was logged in (None outside spans)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current_ids()
        record.trace_id, record.span_id = ids if ids is not None else (None, None)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, trace_id, span_id, `extra=` fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        for key, value in vars(record).items():
            if key not in LOG_RECORD_ATTRIBUTES and key not in data:
                data[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(
    level: int | str = "INFO",
    *,
    json: bool = False,
    stream: IO[str] | None = None,
    redactor: Redactor | None = None,
) -> logging.Handler:
    """Send the library's logs to `stream` (default stderr) with trace ids and secrets masked.

    Calling it again replaces the handler it installed before. Records still propagate to the root logger's
    handlers, masked already by the filter each library logger carries (`redaction.guard`); set
    `logging.getLogger("mastra_nb").propagate = False` to stop that.

    Args:
        level: the least severe level to show.
        json: one JSON object a line (`JsonFormatter`) instead of text.
        stream: where to write.
        redactor: the `Redactor` to mask secrets with (a hub's is `hub.telemetry.redactor`).

    Returns:
        The installed handler.
    """
    library = logging.getLogger(LIBRARY_LOGGER)
    for old in [h for h in library.handlers if getattr(h, "_mastra_nb", False)]:
        library.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._mastra_nb = True  # type: ignore[attr-defined]
    handler.addFilter(TraceContextFilter())
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(_TEXT_FORMAT))
    library.addHandler(handler)
    library.setLevel(level)
    return handler


def silence() -> logging.Logger:
    """Turn the library's logging off (every `mastra_nb.*` logger without a level of its own), for this process:
    loggers are process-wide. `configure_logging()` turns it back on."""
    library = logging.getLogger(LIBRARY_LOGGER)
    library.setLevel(logging.CRITICAL + 1)
    return library
