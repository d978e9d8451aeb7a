"""`Metrics`: Prometheus counters and histograms of runs, steps, tool calls, model calls, tokens, cost and errors.

They are fed by the spans themselves: when a span ends, `observe` reads its kind, attributes and duration, so the
instrumented code has one call to make (open a span) and metrics can never disagree with traces. Each hub has
its own `CollectorRegistry` (two hubs in one kernel count apart); `render()` is the Prometheus text format and
`asgi_app()` what the server mounts at `/metrics`. prometheus-client is imported when the first span ends.

Every span ends through `observe`, so it is on the traced work's path: the span-fed metrics are plain numbers in
dicts, counted under one lock (about 1 µs a span), and become prometheus-client metric families only when they are
read (`_SpanCollector`); a prometheus-client `Histogram` child costs 2-3 µs an observation.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

__all__ = ["Metrics"]

# Seconds: from a cached tool call (~10 µs) to a slow agent run (minutes).
_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _Family:
    """One span-fed metric: its values by label values. A counter's value is a float; a histogram's is a list of
    the count in each bucket (the last is +Inf, not cumulative) followed by the sum of the observations."""

    __slots__ = ("doc", "histogram", "labels", "name", "values")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...], histogram: bool = False) -> None:
        self.name, self.doc, self.labels, self.histogram = name, doc, labels, histogram
        self.values: dict[tuple[str, ...], Any] = {}


class _SpanCollector:
    """Hands the span-fed families to prometheus-client when the registry is collected (rendered, read)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        metrics = self._metrics
        with metrics._lock:
            # a histogram's counts are copied too: a span ending meanwhile must not show in its buckets but not its sum
            values: list[tuple[_Family, list[tuple[tuple[str, ...], Any]]]] = [
                (family, [(labels, list(v) if family.histogram else v) for labels, v in family.values.items()])
                for family in metrics._families
            ]
        for family, items in values:
            name = f"{metrics.namespace}_{family.name}"
            if not family.histogram:
                counter = CounterMetricFamily(name, family.doc, labels=family.labels)
                for labels, value in items:
                    counter.add_metric(labels, value)
                yield counter
                continue
            histogram = HistogramMetricFamily(name, family.doc, labels=family.labels)
            for labels, counts in items:
                buckets, total = [], 0.0
                for bound, count in zip((*map(str, _BUCKETS), "+Inf"), counts, strict=False):
                    total += count
                    buckets.append((bound, total))
                histogram.add_metric(labels, buckets, counts[-1])
            yield histogram


class Metrics:
    """The metrics of one hub (`hub.metrics`).

    Args:
        registry: a prometheus-client `CollectorRegistry`; by default a new one for this hub (pass
            `prometheus_client.REGISTRY` to expose them with the process's default metrics).
        namespace: the metric name prefix.

    Metrics (labels in braces): `<ns>_agent_runs_total{agent,status}`, `<ns>_agent_run_seconds{agent}`,
    `<ns>_workflow_runs_total{workflow,status}`, `<ns>_workflow_run_seconds{workflow}`,
    `<ns>_workflow_steps_total{workflow,step,status}`, `<ns>_workflow_step_seconds{workflow,step}`,
    `<ns>_tool_calls_total{tool,status,cached}`, `<ns>_tool_call_seconds{tool}`,
    `<ns>_model_calls_total{model,status,replayed}`, `<ns>_model_call_seconds{model}`,
    `<ns>_model_tokens_total{model,type}` (input, output), `<ns>_model_cost_usd_total{model}`,
    `<ns>_errors_total{component,code}`, `<ns>_memory_degraded_total{operation}` (recall, write, reindex: memory
    operations done without their vector store, which failed), `<ns>_circuit_state_changes_total{component,id,state}`
    (circuit breakers of models and tools opening, half-opening, closing), `<ns>_spans_dropped_total{code}` (spans
    whose write to storage failed).
    """

    def __init__(self, registry: CollectorRegistry | None = None, namespace: str = "mastra") -> None:
        from prometheus_client import CollectorRegistry, Counter

        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.namespace = namespace
        self._lock = threading.Lock()
        self.agent_runs = _Family("agent_runs", "Agent runs by outcome.", ("agent", "status"))
        self.agent_seconds = _Family("agent_run_seconds", "Agent run latency.", ("agent",), histogram=True)
        self.workflow_runs = _Family("workflow_runs", "Workflow runs (and resumes) by outcome.", ("workflow", "status"))
        self.workflow_seconds = _Family("workflow_run_seconds", "Workflow run latency.", ("workflow",), histogram=True)
        self.steps = _Family("workflow_steps", "Workflow steps executed, by outcome.", ("workflow", "step", "status"))
        self.step_seconds = _Family("workflow_step_seconds", "Workflow step latency.", ("workflow", "step"),
                                    histogram=True)  # fmt: skip
        self.tool_calls = _Family("tool_calls", "Tool calls by outcome; cached ones are served from the cache.",
                                  ("tool", "status", "cached"))  # fmt: skip
        self.tool_seconds = _Family("tool_call_seconds", "Tool call latency.", ("tool",), histogram=True)
        self.model_calls = _Family("model_calls", "Model calls by outcome; replayed ones come from recordings.",
                                   ("model", "status", "replayed"))  # fmt: skip
        self.model_seconds = _Family("model_call_seconds", "Model call latency.", ("model",), histogram=True)
        self.tokens = _Family("model_tokens", "Tokens used by model calls.", ("model", "type"))
        self.cost = _Family("model_cost_usd", "Cost of model calls in USD, where the prices are known.", ("model",))
        self.errors = _Family("errors", "Failed agent runs, workflow runs, steps, tool and model calls.",
                              ("component", "code"))  # fmt: skip
        self._families = (
            self.agent_runs, self.agent_seconds, self.workflow_runs, self.workflow_seconds, self.steps,
            self.step_seconds, self.tool_calls, self.tool_seconds, self.model_calls, self.model_seconds, self.tokens,
            self.cost, self.errors,
        )  # fmt: skip
        self.registry.register(_SpanCollector(self))

        # The rest are not fed by spans, and rare: prometheus-client's own counters.
        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, namespace=namespace, registry=self.registry)

        # Memory counts these itself when its vector store fails (`memory/_indexing.py`).
        self.memory_degraded = counter("memory_degraded", "Memory recalls, vector writes and re-indexings done "
                                       "without the vector store, which failed.", "operation")  # fmt: skip
        # The span writer counts the spans it could not store (`telemetry/writer.py`).
        self.spans_dropped = counter("spans_dropped", "Spans dropped because storing them failed.", "code")
        # A model or tool reports its circuit breaker's state changes (`mastra_nb/circuit.py`).
        self.circuit_changes = counter("circuit_state_changes", "Circuit breakers of models and tools changing state.",
                                       "component", "id", "state")  # fmt: skip

    def observe(self, kind: str, attributes: Mapping[str, Any], seconds: float) -> None:
        """Count one finished span of `kind` with its attributes and duration."""
        get = attributes.get
        status = str(get("mastra.status") or "ok")
        with self._lock:
            if kind == "step":
                labels = (str(get("mastra.workflow.id", "")), str(get("mastra.step.id", "")))
                _count(self.steps, (*labels, status))
                _time(self.step_seconds, labels, seconds)
            elif kind == "model":
                model = str(get("gen_ai.request.model", ""))
                _count(self.model_calls, (model, status, _flag(get("mastra.model.replayed"))))
                _time(self.model_seconds, (model,), seconds)
                for kind_of, key in (("input", "gen_ai.usage.input_tokens"), ("output", "gen_ai.usage.output_tokens")):
                    tokens = get(key)
                    if tokens:
                        _count(self.tokens, (model, kind_of), tokens)
                cost = get("mastra.usage.cost_usd")
                if cost:
                    _count(self.cost, (model,), cost)
            elif kind in ("tool", "mcp_tool"):
                tool = str(get("gen_ai.tool.name", ""))
                _count(self.tool_calls, (tool, status, _flag(get("mastra.tool.cached"))))
                _time(self.tool_seconds, (tool,), seconds)
            elif kind == "agent":
                agent = str(get("gen_ai.agent.name", ""))
                _count(self.agent_runs, (agent, status))
                _time(self.agent_seconds, (agent,), seconds)
            elif kind == "workflow":
                workflow = str(get("mastra.workflow.id", ""))
                _count(self.workflow_runs, (workflow, status))
                _time(self.workflow_seconds, (workflow,), seconds)
            else:
                return
            if status in ("error", "failed"):
                _count(self.errors, (kind, str(get("mastra.error.code") or get("error.type", ""))))

    def render(self) -> bytes:
        """The metrics in Prometheus' text exposition format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    @property
    def content_type(self) -> str:
        """The HTTP content type of `render()`'s output."""
        from prometheus_client import CONTENT_TYPE_LATEST

        return str(CONTENT_TYPE_LATEST)

    def asgi_app(self) -> Any:
        """An ASGI app serving these metrics, for the server to mount at `/metrics`."""
        from prometheus_client import make_asgi_app

        return make_asgi_app(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """The current value of one sample (`value("mastra_tool_calls_total", tool="add", ...)`), 0 when absent."""
        found = self.registry.get_sample_value(name, labels)
        return float(found) if found is not None else 0.0


def _count(family: _Family, labels: tuple[str, ...], amount: float = 1) -> None:
    values = family.values
    values[labels] = values.get(labels, 0) + amount


def _time(family: _Family, labels: tuple[str, ...], seconds: float) -> None:
    counts = family.values.get(labels)
    if counts is None:
        counts = family.values[labels] = [0] * (len(_BUCKETS) + 1) + [0.0]
    counts[bisect_left(_BUCKETS, seconds)] += 1  # the first bucket whose bound is >= seconds, else +Inf
    counts[-1] += seconds


def _flag(value: Any) -> str:
    return "true" if value else "false"
