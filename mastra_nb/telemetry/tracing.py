"""`Telemetry`: a hub's tracing, on the OpenTelemetry SDK, with its span store, redaction and metrics.

Each hub owns one `Telemetry` and one SDK `TracerProvider` (never the process-global one, so two hubs in a kernel
do not mix). The provider is built on the first span, which is when opentelemetry is imported: `import mastra_nb`
never imports it. Its processors are the `SpanWriter` (finished spans into the hub's `spans` table, in batches),
any the user adds (`telemetry.add_span_processor`, e.g. the SDK's in-memory exporter in tests), and an OTLP
exporter when the standard `OTEL_*` variables ask for one (`_export.py`).

A trace lives where it started: while a span is open, components of any hub that run inside it (a workflow used
as a tool, a sub-agent) add their spans to the same `Telemetry`, so one trace is stored whole in one place.

Instrumented code opens a `SpanScope` (`with telemetry.span("tool", "execute_tool add") as span:`), sets
attributes, input and output on it, and leaves; errors raised through it are recorded on the span, control-flow
signals (suspension, cancellation) become a status instead. `spans.py` holds the helpers that name each kind's
attributes; `Telemetry(enabled=False)` or `OTEL_SDK_DISABLED=true` turns every span into a shared no-op.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ..events import WARNING_RAISED
from ..redaction import Redactor, guard

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    from ..mastra import Mastra
    from .metrics import Metrics
    from .traces import Traces
    from .writer import SpanWriter

__all__ = ["SpanScope", "Telemetry", "active_telemetry", "current_ids", "current_span", "default_telemetry"]

logger = guard(logging.getLogger("mastra_nb.telemetry"))

# The innermost open span (its telemetry is where nested components add theirs).
_ACTIVE: ContextVar[SpanScope | None] = ContextVar("mastra_nb_span", default=None)

# Control-flow signals end a span without an error; the span says what happened instead.
_SIGNAL_STATUS = {
    "Suspended": "suspended", "SuspendSignal": "suspended", "BailSignal": "bailed", "CancelledError": "canceled",
    "GeneratorExit": "closed", "KeyboardInterrupt": "interrupted",
}  # fmt: skip
_TRUE = ("1", "true", "yes", "on")
_BUILD_LOCK = threading.Lock()


class Telemetry:
    """A hub's tracing service: spans, their store, redaction, metrics.

    Args:
        enabled: False records nothing (every span is a no-op and results carry no trace id); None (default) is
            on unless `OTEL_SDK_DISABLED=true`.
        capture_content: record inputs and outputs (prompts, answers, tool arguments and results) on spans.
        max_value_chars: inputs and outputs longer than this (as JSON) are cut, with a note of the full length.
        redact: field names whose values are always masked, besides the built-in ones (see `Redactor`).
        secrets: literal secret values to mask wherever they appear.
        export: send spans to an OTLP collector: None (default) when `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` or
            `OTEL_TRACES_EXPORTER=otlp` is set, True to insist (with the SDK's defaults), False never.
        store: write finished spans to the hub's storage (`hub.traces` reads them).
        batch_size, flush_interval: spans are written when this many have ended or the oldest is this old (s).
        processors: more OpenTelemetry span processors (an exporter of your own, the SDK's in-memory exporter).
        service_name: the `service.name` resource attribute, unless `OTEL_SERVICE_NAME` sets it.
    """

    def __init__(
        self,
        *,
        enabled: bool | None = None,
        capture_content: bool = True,
        max_value_chars: int = 4000,
        redact: Iterable[str] = (),
        secrets: Iterable[str] = (),
        export: bool | None = None,
        store: bool = True,
        batch_size: int = 256,
        flush_interval: float = 0.5,
        processors: Iterable[SpanProcessor] = (),
        service_name: str = "mastra_nb",
    ) -> None:
        if enabled is None:
            enabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() not in _TRUE
        self.enabled = bool(enabled)
        self.capture_content = capture_content
        self.max_value_chars = max_value_chars
        self.redactor = Redactor(fields=redact, secrets=secrets)
        self.export = export
        self.store = store
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.service_name = service_name
        self._extra: list[SpanProcessor] = list(processors)
        self._hub: Mastra | None = None
        self._provider: TracerProvider | None = None
        self._tracer: Any = None
        self._writer: SpanWriter | None = None
        self._metrics: Metrics | None = None
        self._traces: Traces | None = None

    # -- the hub --------------------------------------------------------------------------------------------

    def bind(self, hub: Mastra) -> Telemetry:
        """Store spans in `hub.storage` (the hub calls this); a later bind replaces an earlier one."""
        self._hub = hub
        return self

    @property
    def hub(self) -> Mastra | None:
        """The hub this telemetry is bound to (its spans are stored there, its events told there), or None."""
        return self._hub

    @property
    def traces(self) -> Traces:
        """The reader of stored traces (`await telemetry.traces.get(trace_id)`); also `hub.traces`."""
        if self._traces is None:
            from .traces import Traces

            self._traces = Traces(self)
        return self._traces

    @property
    def metrics(self) -> Metrics:
        """Counters and histograms of runs, steps, tool and model calls, tokens, cost and errors (Prometheus)."""
        if self._metrics is None:
            from .metrics import Metrics

            self._metrics = Metrics()
        return self._metrics

    # -- the SDK --------------------------------------------------------------------------------------------

    @property
    def provider(self) -> TracerProvider:
        """This telemetry's OpenTelemetry `TracerProvider`, built on first use."""
        if self._provider is None:
            self._build()
        assert self._provider is not None
        return self._provider

    def add_span_processor(self, processor: SpanProcessor) -> None:
        """Add an OpenTelemetry span processor (it sees every span that ends from now on)."""
        if self._provider is None:
            self._extra.append(processor)
        else:
            self._provider.add_span_processor(processor)

    def _build(self) -> None:
        with _BUILD_LOCK:
            if self._provider is None:  # another thread may have built it while this one waited
                self._build_provider()

    def _build_provider(self) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        from . import _export
        from .writer import SpanWriter

        named = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
        resource = Resource.create({} if named else {"service.name": self.service_name})
        # The sampler comes from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, as the SDK reads them.
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        if self.store and self._hub is not None:
            self._writer = SpanWriter(
                self._storage, self.redactor, self.batch_size, self.flush_interval, events=self._events,
                dropped=self._spans_dropped,
            )  # fmt: skip
            provider.add_span_processor(self._writer)
        for processor in self._extra:
            provider.add_span_processor(processor)
        exporter = _export.otlp_processor(self.export)
        if exporter is not None:
            provider.add_span_processor(exporter)
        self._tracer = provider.get_tracer("mastra_nb")
        self._provider = provider

    def _storage(self) -> Any:
        hub = self._hub
        return hub.storage if hub is not None else None

    def _events(self) -> Any:
        hub = self._hub
        return hub.events if hub is not None else None

    def _spans_dropped(self, count: int, code: str, warning: str | None) -> None:
        self.metrics.spans_dropped.labels(code).inc(count)
        bus = self._events()
        if warning is not None and bus is not None:
            bus.emit(WARNING_RAISED, {"component": "telemetry", "operation": "write", "code": code,
                                      "message": warning})  # fmt: skip

    # -- spans ----------------------------------------------------------------------------------------------

    def span(
        self,
        kind: str,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        root: bool = False,
        links: Iterable[tuple[str, str]] = (),
    ) -> SpanScope:
        """A span to open with `with`: `kind` is mastra's (agent, model, tool, workflow, step, ...).

        Args:
            attributes: set at once (values redacted).
            root: start a new trace, whatever span is open.
            links: `(trace_id, span_id)` pairs of spans this one is about (a score links to what it judged).
        """
        if not self.enabled:
            return _NoopSpan(self)
        return SpanScope(self, kind, name, attributes, root, links)

    def silent(self) -> SpanScope:
        """A span that records nothing (for work replayed from a journal rather than done)."""
        return _NoopSpan(self)

    def encode(self, value: Any) -> str:
        """A value as the redacted, size-capped JSON text that spans carry."""
        try:
            text = json.dumps(self.redactor.value(value), ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            text = self.redactor.text(repr(value))
        if len(text) > self.max_value_chars:
            text = f"{text[: self.max_value_chars]}... [{len(text)} chars, cut]"
        return text

    async def flush(self) -> None:
        """Write every span that has ended to storage (`traces.get` and `list` call this first)."""
        if self._writer is not None:
            await self._writer.flush()

    async def shutdown(self) -> None:
        """Write what is left and stop the exporters (the hub's `shutdown` calls this)."""
        await self.flush()
        if self._provider is not None:
            import asyncio

            await asyncio.to_thread(self._provider.shutdown)  # an OTLP exporter may block on its last export

    def __repr__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"Telemetry({state}, store={self.store}, processors={len(self._extra)})"


class SpanScope:
    """An open span: set attributes, input and output; errors raised through it are recorded.

    Attribute values are redacted; `input` and `output` are stored as size-capped JSON text (`mastra.input`,
    `mastra.output`) when the telemetry captures content.
    """

    __slots__ = (
        "_ctx_token", "_links", "_metrics", "_root", "_span", "_started", "_tel_token", "attributes",
        "kind", "name", "status", "telemetry",
    )  # fmt: skip

    def __init__(
        self,
        telemetry: Telemetry,
        kind: str,
        name: str,
        attributes: Mapping[str, Any] | None,
        root: bool,
        links: Iterable[tuple[str, str]],
    ) -> None:
        self.telemetry = telemetry
        self.kind = kind
        self.name = name
        self.attributes: dict[str, Any] = {"mastra.kind": kind}
        if attributes:
            self.set_many(attributes)
        self.status: str | None = None
        self._root = root
        self._links = tuple(links)
        self._span: Any = None
        self._ctx_token: Any = None
        self._tel_token: Any = None
        self._started = 0.0

    def __enter__(self) -> SpanScope:
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        telemetry = self.telemetry
        if telemetry._tracer is None:
            telemetry._build()
        parent = otel_context.Context() if self._root else None
        links = [_link(t, s) for t, s in self._links]
        # The kind is given at start too: span processors see it in `on_start` (the writer marks scorers' traces).
        self._span = telemetry._tracer.start_span(self.name, context=parent, links=links,
                                                  attributes={"mastra.kind": self.kind}, record_exception=False,
                                                  set_status_on_exception=False)  # fmt: skip
        self._ctx_token = otel_context.attach(trace.set_span_in_context(self._span))
        self._tel_token = _ACTIVE.set(self)
        self._started = time.perf_counter()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        seconds = time.perf_counter() - self._started
        span = self._span
        try:
            if exc is not None:
                if isinstance(exc, Exception):
                    self.error(exc)
                elif self.status is None:
                    self.status = _SIGNAL_STATUS.get(type(exc).__name__, "interrupted")
            if self.status is not None:
                self.attributes["mastra.status"] = self.status
            if span.is_recording():
                span.set_attributes(self.attributes)
            span.end()
            self.telemetry.metrics.observe(self.kind, self.attributes, seconds)
        finally:
            self._detach()

    def _detach(self) -> None:
        # A generator closed by the event loop's finalizer exits in another context than it entered: its tokens
        # cannot be reset there, and need not be (that context dies with the finalizer's task).
        if self._ctx_token is not None:
            from opentelemetry import context as otel_context

            try:
                otel_context._RUNTIME_CONTEXT.detach(self._ctx_token)
            except (ValueError, RuntimeError):
                pass
        try:
            _ACTIVE.reset(self._tel_token)
        except (ValueError, RuntimeError):
            pass

    # -- what instrumented code calls -----------------------------------------------------------------------

    @property
    def trace_id(self) -> str | None:
        """The trace's id, 32 hex digits."""
        return f"{self._span.get_span_context().trace_id:032x}" if self._span is not None else None

    @property
    def span_id(self) -> str | None:
        """The span's id, 16 hex digits."""
        return f"{self._span.get_span_context().span_id:016x}" if self._span is not None else None

    def set(self, key: str, value: Any) -> None:
        """Set one attribute: str, bool, int, float or a list of one of them; None is skipped; others become JSON."""
        if value is None:
            return
        if isinstance(value, str):
            value = self.telemetry.redactor.text(value)
        elif not isinstance(value, (bool, int, float)):
            if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bool, int, float)) for v in value):
                value = [self.telemetry.redactor.text(v) if isinstance(v, str) else v for v in value]
            else:
                value = self.telemetry.encode(value)
        self.attributes[key] = value

    def set_many(self, attributes: Mapping[str, Any]) -> None:
        for key, value in attributes.items():
            self.set(key, value)

    def input(self, value: Any) -> None:
        """Record what the span's work was given (when the telemetry captures content)."""
        if self.telemetry.capture_content:
            self.attributes["mastra.input"] = self.telemetry.encode(value)

    def output(self, value: Any) -> None:
        """Record what the span's work produced (when the telemetry captures content)."""
        if self.telemetry.capture_content:
            self.attributes["mastra.output"] = self.telemetry.encode(value)

    def event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Add a timestamped event (a retry, a fallback) to the span."""
        if self._span is not None and self._span.is_recording():
            redact = self.telemetry.redactor
            self._span.add_event(name, {k: redact.text(v) if isinstance(v, str) else v
                                        for k, v in (attributes or {}).items() if v is not None})  # fmt: skip

    def error(self, error: BaseException | Mapping[str, Any]) -> None:
        """Mark the span failed with `error` (an exception, or a `MastraError.to_dict()`), redacted."""
        from opentelemetry.trace import Status, StatusCode

        if isinstance(error, Mapping):
            kind, code, message = "MastraError", error.get("code"), str(error.get("message", ""))
        else:
            kind, code, message = type(error).__name__, getattr(error, "code", None), str(error)
        message = self.telemetry.redactor.text(message)
        self.status = "error"
        self.set_many({"error.type": code or kind, "mastra.error.code": code, "mastra.error.message": message})
        if self._span is not None:
            self._span.set_status(Status(StatusCode.ERROR, f"{code or kind}: {message}"[:1000]))
            self.event("exception", {"exception.type": kind, "exception.message": message})


class _NoopSpan(SpanScope):
    """The span of disabled telemetry: it records nothing and its ids are None, but it is still the open span, so
    that what runs inside it does not start traces of its own elsewhere."""

    __slots__ = ()

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._span = None
        self._ctx_token = None

    def __enter__(self) -> SpanScope:
        self._tel_token = _ACTIVE.set(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._detach()

    def set(self, key: str, value: Any) -> None:
        pass

    def set_many(self, attributes: Mapping[str, Any]) -> None:
        pass

    def input(self, value: Any) -> None:
        pass

    def output(self, value: Any) -> None:
        pass

    def event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        pass

    def error(self, error: BaseException | Mapping[str, Any]) -> None:
        pass


def _link(trace_id: str, span_id: str) -> Any:
    from opentelemetry.trace import Link, SpanContext, TraceFlags

    return Link(SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1)))


_DEFAULT: list[Telemetry] = []


def default_telemetry() -> Telemetry:
    """The telemetry of components used without a hub. Their spans could be stored nowhere, so it is on only
    when OTLP export is configured; otherwise a hub-less tool or step pays nothing for tracing. Process state by
    nature, like the private event loop."""
    if not _DEFAULT:
        from ._export import otlp_requested

        _DEFAULT.append(Telemetry(enabled=None if otlp_requested() else False, store=False))
    return _DEFAULT[0]


def active_telemetry(hub: Any) -> Telemetry:
    """Where a component's spans go: the telemetry of the open span if any (a trace lives where it started),
    else its hub's, else the default one."""
    active = _ACTIVE.get()
    if active is not None:
        return active.telemetry
    found = getattr(hub, "telemetry", None) if hub is not None else None
    return found if isinstance(found, Telemetry) else default_telemetry()


def current_span() -> SpanScope | None:
    """The innermost open mastra_nb span of this context, if any."""
    return _ACTIVE.get()


def current_ids() -> tuple[str, str] | None:
    """`(trace_id, span_id)` of the current OpenTelemetry span, or None (without importing opentelemetry)."""
    import sys

    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
