"""`Telemetry`: a hub's tracing, with its span store, redaction and metrics, and OpenTelemetry when asked.

Each hub owns one `Telemetry`. While only the hub's store reads its spans (the default), they are mastra_nb's own:
a span is a small object with ids drawn as the OpenTelemetry SDK draws them, handed at its end to the
`SpanWriter`, which turns a batch of them into rows off the traced work's path. Once something else reads spans
(a processor added with `processors=` or `add_span_processor`, OTLP export asked by the standard `OTEL_*`
variables, a sampler set by `OTEL_TRACES_SAMPLER`), they are made through an SDK `TracerProvider` of the hub's own
(never the process-global one, so two hubs in a kernel do not mix), with the writer as one of its processors, and
are current in OpenTelemetry's context, so other instrumented code nests under them. Both ways store the same
rows. opentelemetry's SDK is imported only then: `import mastra_nb` and a default hub's spans never import it.

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
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from random import getrandbits
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic_core import to_json

from ..errors import ErrorKind, MastraError, shown
from ..events import WARNING_RAISED
from ..redaction import Redactor, guard

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    from ..mastra import Mastra
    from .metrics import Metrics
    from .traces import Traces
    from .writer import SpanWriter

__all__ = [
    "REPEATS_SPANNED", "SpanScope", "StepSpans", "Telemetry", "active_telemetry", "current_ids", "current_span",
    "default_telemetry",
]  # fmt: skip

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

StepSpans = Literal["all", "blocks", "off"]

# Under `step_spans="blocks"`, how many of a loop's iterations or a foreach's items get a span of their own: enough
# to see what the block does, while a block of thousands costs about what one of ten does.
REPEATS_SPANNED = 10


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
        step_spans: which workflow steps get spans: "blocks" (default: every step, and the first 10 iterations of
            a loop and items of a foreach; the others are counted on their block's span, `mastra.loop.iterations`
            and `mastra.foreach.items`, and their failures are said there), "all" (every iteration and item too),
            or "off" (workflow runs only, no step or block spans).

    Spans are mastra_nb's own while only the hub's store reads them, and go through the OpenTelemetry SDK (its
    `TracerProvider`, sampler and context) as soon as something else does: a processor, OTLP export, or
    `OTEL_TRACES_SAMPLER`. Both make the same rows.
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
        batch_size: int = 1024,
        flush_interval: float = 0.5,
        processors: Iterable[SpanProcessor] = (),
        service_name: str = "mastra_nb",
        step_spans: StepSpans = "blocks",
    ) -> None:
        if step_spans not in get_args(StepSpans):
            raise MastraError(
                ErrorKind.VALIDATION, "TELEMETRY_CONFIG_INVALID",
                f"`Telemetry(step_spans=...)` takes \"all\", \"blocks\" or \"off\", got {shown(step_spans)}.",
                details={"field": "step_spans"},
            )  # fmt: skip
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
        self.step_spans: StepSpans = step_spans
        self._extra: list[SpanProcessor] = list(processors)
        self._hub: Mastra | None = None
        self._mode: str | None = None  # "own" or "sdk", decided on the first span (see `_build`)
        self._provider: TracerProvider | None = None
        self._tracer: Any = None
        self._writer: SpanWriter | None = None
        self._exporter: SpanProcessor | None = None
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
        """This telemetry's OpenTelemetry `TracerProvider`, built on first use (with the span writer on it, so
        that `provider.force_flush()` writes the waiting spans)."""
        self._sdk_tracer()
        assert self._provider is not None
        return self._provider

    def add_span_processor(self, processor: SpanProcessor) -> None:
        """Add an OpenTelemetry span processor (it sees every span that starts from now on)."""
        if self._provider is None:
            self._extra.append(processor)
        else:
            self._provider.add_span_processor(processor)
        if self._mode is not None:
            self._mode = "sdk"  # spans go through the SDK from now on, so that the processor sees them

    def _build(self) -> None:
        """Decide, on the first span, whether spans are our own (only the store reads them) or the SDK's."""
        with _BUILD_LOCK:
            if self._mode is not None:  # another thread decided while this one waited
                return
            from . import _export
            from .writer import SpanWriter

            if self.store and self._hub is not None:
                self._writer = SpanWriter(
                    self._storage, self.redactor, self.batch_size, self.flush_interval, events=self._events,
                    dropped=self._spans_dropped,
                )  # fmt: skip
            self._exporter = _export.otlp_processor(self.export)
            sdk = self._extra or self._exporter is not None or os.environ.get("OTEL_TRACES_SAMPLER")
            self._mode = "sdk" if sdk else "own"

    def _sdk_tracer(self) -> Any:
        """The SDK's tracer, its provider built on first use with the writer, the added processors and OTLP."""
        if self._tracer is not None:
            return self._tracer
        if self._mode is None:
            self._build()
        with _BUILD_LOCK:
            if self._tracer is None:  # another thread may have built it while this one waited
                from opentelemetry.sdk.resources import Resource
                from opentelemetry.sdk.trace import TracerProvider

                named = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get(
                    "OTEL_RESOURCE_ATTRIBUTES", ""
                )
                resource = Resource.create({} if named else {"service.name": self.service_name})
                # The sampler comes from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, as the SDK reads them.
                provider = TracerProvider(resource=resource, shutdown_on_exit=False)
                from .writer import sdk_processor

                writer = sdk_processor(self._writer) if self._writer is not None else None
                for processor in (writer, *self._extra, self._exporter):
                    if processor is not None:
                        provider.add_span_processor(processor)
                self._provider = provider
                self._tracer = provider.get_tracer("mastra_nb")
        return self._tracer

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
        plain: Mapping[str, Any] | None = None,
    ) -> SpanScope:
        """A span to open with `with`: `kind` is mastra's (agent, model, tool, workflow, step, ...).

        Args:
            attributes: set at once (values redacted).
            plain: attributes set as they are, for values mastra_nb checked itself (a step's id and path, a count):
                str, bool, int or float, never a caller's text that could hold a secret.
            root: start a new trace, whatever span is open.
            links: `(trace_id, span_id)` pairs of spans this one is about (a score links to what it judged).
        """
        if not self.enabled:
            return _NoopSpan(self)
        if self._mode is None:
            self._build()
        if self._mode == "sdk":
            return _SdkSpan(self, kind, name, attributes, root, links, plain)
        return SpanScope(self, kind, name, attributes, root, links, plain)

    def silent(self) -> SpanScope:
        """A span that records nothing (for work replayed from a journal rather than done)."""
        return _NoopSpan(self)

    def encode(self, value: Any) -> str:
        """A value as the redacted, size-capped JSON text that spans carry."""
        try:
            plain = self.redactor.value(value)
        except RecursionError:
            plain = self.redactor.text(repr(value))
        try:
            text = to_json(plain, fallback=str).decode()
        except ValueError:  # text that is not Unicode (a lone surrogate): escaped, so that every store keeps it
            text = json.dumps(plain, default=str)
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

    This is mastra_nb's own span, used when nothing outside the hub reads spans: its ids are drawn as the
    OpenTelemetry SDK draws them, its parent is the open span, and once it ends it is handed to the span writer as
    it is, which turns it into a row in its next batch. `_SdkSpan` is the same span made through the SDK.
    """

    __slots__ = (
        "_end_ns", "_events", "_failed", "_id", "_later", "_links", "_parent", "_root", "_start_ns", "_started",
        "_tel_token", "_trace", "attributes", "kind", "name", "status", "telemetry",
    )  # fmt: skip

    def __init__(
        self,
        telemetry: Telemetry,
        kind: str,
        name: str,
        attributes: Mapping[str, Any] | None,
        root: bool,
        links: Iterable[tuple[str, str]],
        plain: Mapping[str, Any] | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.kind = kind
        self.name = name
        self.attributes: dict[str, Any] = {"mastra.kind": kind}
        if plain:
            self.attributes.update(plain)
        if attributes:
            self.set_many(attributes)
        self.status: str | None = None
        self._root = root
        self._links = tuple(links)
        self._later: dict[str, Any] | None = None
        self._events: list[tuple[str, int, dict[str, Any]]] | None = None
        self._failed = False
        self._trace = self._id = 0
        self._parent: int | None = None
        self._tel_token: Any = None
        self._started = 0.0
        self._start_ns = self._end_ns = 0

    def __enter__(self) -> SpanScope:
        telemetry = self.telemetry
        parent = None if self._root else _parent_ids()
        if parent is None:
            self._trace = getrandbits(128) or 1
        else:
            self._trace, self._parent = parent
        self._id = getrandbits(64) or 1
        self._tel_token = _ACTIVE.set(self)
        writer = telemetry._writer
        if writer is not None and self._parent is None and self.kind == "scorer":
            writer.scorer_trace(f"{self._trace:032x}")
        self._start_ns = time.time_ns()
        self._started = time.perf_counter()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        seconds = time.perf_counter() - self._started
        self._end_ns = time.time_ns()
        try:
            self._end(exc)
            writer = self.telemetry._writer
            if writer is not None:
                writer.add(self)
            self.telemetry.metrics.observe(self.kind, self.attributes, seconds)
        finally:
            self._detach()

    def _end(self, exc: BaseException | None) -> None:
        if exc is not None:
            if isinstance(exc, Exception):
                self.error(exc)
            elif self.status is None:
                self.status = _SIGNAL_STATUS.get(type(exc).__name__, "interrupted")
        if self.status is not None:
            self.attributes["mastra.status"] = self.status

    def _detach(self) -> None:
        # A generator closed by the event loop's finalizer exits in another context than it entered: its token
        # cannot be reset there, and need not be (that context dies with the finalizer's task).
        try:
            _ACTIVE.reset(self._tel_token)
        except (ValueError, RuntimeError):
            pass

    # -- what instrumented code calls -----------------------------------------------------------------------

    @property
    def trace_id(self) -> str | None:
        """The trace's id, 32 hex digits."""
        return f"{self._trace:032x}" if self._id else None

    @property
    def span_id(self) -> str | None:
        """The span's id, 16 hex digits."""
        return f"{self._id:016x}" if self._id else None

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

    def input(self, value: Any, *, fresh: bool = False) -> None:
        """Record what the span's work was given (when the telemetry captures content).

        `fresh=True` says `value` is a JSON-like value made for this span and changed by nobody later (a step's
        input as the journal keeps it): it is then redacted and encoded when the span is written, off the traced
        work's path, instead of now."""
        self._content("mastra.input", value, fresh)

    def output(self, value: Any, *, fresh: bool = False) -> None:
        """Record what the span's work produced (when the telemetry captures content); `fresh` as for `input`."""
        self._content("mastra.output", value, fresh)

    def _content(self, key: str, value: Any, fresh: bool) -> None:
        telemetry = self.telemetry
        if not telemetry.capture_content:
            return
        if fresh:
            if self._later is None:
                self._later = {}
            self._later[key] = value
            self.attributes.pop(key, None)
        else:
            self.attributes[key] = telemetry.encode(value)
            if self._later is not None:
                self._later.pop(key, None)

    def finished_attributes(self) -> dict[str, Any]:
        """The attributes as stored: the deferred input and output encoded now (the span writer calls this)."""
        if not self._later:
            return dict(self.attributes)
        encode = self.telemetry.encode
        return {**self.attributes, **{key: encode(value) for key, value in self._later.items()}}

    def event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Add a timestamped event (a retry, a fallback) to the span."""
        if self._id:
            if self._events is None:
                self._events = []
            self._events.append((name, time.time_ns(), self._event_attributes(attributes)))

    def _event_attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any]:
        redact = self.telemetry.redactor
        return {k: redact.text(v) if isinstance(v, str) else v for k, v in (attributes or {}).items() if v is not None}

    def error(self, error: BaseException | Mapping[str, Any]) -> None:
        """Mark the span failed with `error` (an exception, or a `MastraError.to_dict()`), redacted."""
        if isinstance(error, Mapping):
            kind, code, message = "MastraError", error.get("code"), str(error.get("message", ""))
        else:
            kind, code, message = type(error).__name__, getattr(error, "code", None), str(error)
        message = self.telemetry.redactor.text(message)
        self.status = "error"
        self.set_many({"error.type": code or kind, "mastra.error.code": code, "mastra.error.message": message})
        self._failed_with(f"{code or kind}: {message}"[:1000])
        self.event("exception", {"exception.type": kind, "exception.message": message})

    def _failed_with(self, description: str) -> None:
        self._failed = True

    # -- as the span writer reads it ------------------------------------------------------------------------

    @property
    def parent_span_id(self) -> str | None:
        return f"{self._parent:016x}" if self._parent else None

    @property
    def failed(self) -> bool:
        return self._failed

    @property
    def links(self) -> tuple[tuple[str, str], ...]:
        return self._links

    @property
    def times_ns(self) -> tuple[int, int]:
        """When the span started and ended, in ns since the epoch."""
        return self._start_ns, self._end_ns

    @property
    def events(self) -> list[tuple[str, int, dict[str, Any]]]:
        return self._events or []


class _SdkSpan(SpanScope):
    """The span made through the OpenTelemetry SDK, for a telemetry whose spans something outside the hub reads
    (an OTLP exporter, a processor): the SDK's span is opened with it and made current in OpenTelemetry's context,
    so that other instrumented code nests under it, and its processors see it end."""

    __slots__ = ("_ctx_token", "_span")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._span: Any = None
        self._ctx_token: Any = None

    def __enter__(self) -> SpanScope:
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        telemetry = self.telemetry
        tracer = telemetry._sdk_tracer()
        active = _ACTIVE.get()
        if self._root:
            parent = otel_context.Context()
        elif active is not None and active._id and not isinstance(active, _SdkSpan):  # one of our own spans
            parent = trace.set_span_in_context(trace.NonRecordingSpan(_context(active._trace, active._id)))
        else:
            parent = None
        links = [trace.Link(_context(int(t, 16), int(s, 16), remote=True)) for t, s in self._links]
        # The kind is given at start too: span processors see it in `on_start` (the writer marks scorers' traces).
        self._span = tracer.start_span(self.name, context=parent, links=links, attributes={"mastra.kind": self.kind},
                                       record_exception=False, set_status_on_exception=False)  # fmt: skip
        context = self._span.get_span_context()
        self._trace, self._id = context.trace_id, context.span_id
        self._ctx_token = otel_context.attach(trace.set_span_in_context(self._span))
        self._tel_token = _ACTIVE.set(self)
        self._start_ns = time.time_ns()
        self._started = time.perf_counter()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        seconds = time.perf_counter() - self._started
        span = self._span
        try:
            self._end(exc)
            if span.is_recording():
                span.set_attributes(self.finished_attributes())
            span.end()
            self.telemetry.metrics.observe(self.kind, self.attributes, seconds)
        finally:
            self._detach()

    def _detach(self) -> None:
        if self._ctx_token is not None:
            from opentelemetry import context as otel_context

            try:
                otel_context._RUNTIME_CONTEXT.detach(self._ctx_token)
            except (ValueError, RuntimeError):
                pass
        super()._detach()

    def event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        if self._span is not None and self._span.is_recording():
            self._span.add_event(name, self._event_attributes(attributes))

    def _failed_with(self, description: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._failed = True
        if self._span is not None:
            self._span.set_status(Status(StatusCode.ERROR, description))


class _NoopSpan(SpanScope):
    """The span of disabled telemetry: it records nothing and its ids are None, but it is still the open span, so
    that what runs inside it does not start traces of its own elsewhere."""

    __slots__ = ()

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._trace = self._id = 0

    def __enter__(self) -> SpanScope:
        self._tel_token = _ACTIVE.set(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._detach()

    def set(self, key: str, value: Any) -> None:
        pass

    def set_many(self, attributes: Mapping[str, Any]) -> None:
        pass

    def input(self, value: Any, *, fresh: bool = False) -> None:
        pass

    def output(self, value: Any, *, fresh: bool = False) -> None:
        pass

    def event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        pass

    def error(self, error: BaseException | Mapping[str, Any]) -> None:
        pass


def _parent_ids() -> tuple[int, int] | None:
    """`(trace_id, span_id)` of the span a new one nests under: the open mastra_nb span, else the current
    OpenTelemetry span of other code (looked up only when opentelemetry is loaded), else None (a new trace)."""
    active = _ACTIVE.get()
    if active is not None and active._id:
        return active._trace, active._id
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return (context.trace_id, context.span_id) if context.is_valid else None


def _context(trace_id: int, span_id: int, remote: bool = False) -> Any:
    """The SDK's context of a span: one of our own spans (a parent), or a span a link points to (`remote`)."""
    from opentelemetry.trace import SpanContext, TraceFlags

    return SpanContext(trace_id, span_id, is_remote=remote, trace_flags=TraceFlags(1))


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
    """`(trace_id, span_id)` of the current span, mastra_nb's or OpenTelemetry's, or None (without importing
    opentelemetry)."""
    active = _ACTIVE.get()
    if active is not None and active._id and not isinstance(active, _SdkSpan):  # ours, unknown to OpenTelemetry
        return f"{active._trace:032x}", f"{active._id:016x}"
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
