"""`Metrics`: Prometheus counters and histograms of runs, steps, tool calls, model calls, tokens, cost and errors.

They are fed by the spans themselves: when a span ends, `observe` reads its kind, attributes and duration, so the
instrumented code has one call to make (open a span) and metrics can never disagree with traces. Each hub has
its own `CollectorRegistry` (two hubs in one kernel count apart); `render()` is the Prometheus text format and
`asgi_app()` what the server mounts at `/metrics`. prometheus-client is imported when the first span ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["Metrics"]

# Seconds: from a cached tool call (~10 µs) to a slow agent run (minutes).
_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


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
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.namespace = namespace
        self._children: dict[tuple[Any, ...], Any] = {}  # (metric, *labels) -> child: `labels()` is slow

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, namespace=namespace, registry=self.registry)

        def histogram(name: str, doc: str, *labels: str) -> Histogram:
            return Histogram(name, doc, labels, namespace=namespace, registry=self.registry, buckets=_BUCKETS)

        self.agent_runs = counter("agent_runs", "Agent runs by outcome.", "agent", "status")
        self.agent_seconds = histogram("agent_run_seconds", "Agent run latency.", "agent")
        self.workflow_runs = counter("workflow_runs", "Workflow runs (and resumes) by outcome.", "workflow", "status")
        self.workflow_seconds = histogram("workflow_run_seconds", "Workflow run latency.", "workflow")
        self.steps = counter("workflow_steps", "Workflow steps executed, by outcome.", "workflow", "step", "status")
        self.step_seconds = histogram("workflow_step_seconds", "Workflow step latency.", "workflow", "step")
        self.tool_calls = counter("tool_calls", "Tool calls by outcome; cached ones are served from the cache.",
                                  "tool", "status", "cached")  # fmt: skip
        self.tool_seconds = histogram("tool_call_seconds", "Tool call latency.", "tool")
        self.model_calls = counter("model_calls", "Model calls by outcome; replayed ones come from recordings.",
                                   "model", "status", "replayed")  # fmt: skip
        self.model_seconds = histogram("model_call_seconds", "Model call latency.", "model")
        self.tokens = counter("model_tokens", "Tokens used by model calls.", "model", "type")
        self.cost = counter("model_cost_usd", "Cost of model calls in USD, where the prices are known.", "model")
        self.errors = counter("errors", "Failed agent runs, workflow runs, steps, tool and model calls.",
                              "component", "code")  # fmt: skip
        # Not fed by spans: memory counts these itself when its vector store fails (`memory/_indexing.py`).
        self.memory_degraded = counter("memory_degraded", "Memory recalls, vector writes and re-indexings done "
                                       "without the vector store, which failed.", "operation")  # fmt: skip
        # Not fed by spans: the span writer counts the spans it could not store (`telemetry/writer.py`).
        self.spans_dropped = counter("spans_dropped", "Spans dropped because storing them failed.", "code")
        # Not fed by spans: a model or tool reports its circuit breaker's state changes (`mastra_nb/circuit.py`).
        self.circuit_changes = counter("circuit_state_changes", "Circuit breakers of models and tools changing state.",
                                       "component", "id", "state")  # fmt: skip

    def observe(self, kind: str, attributes: Mapping[str, Any], seconds: float) -> None:
        """Count one finished span of `kind` with its attributes and duration."""
        status = str(attributes.get("mastra.status") or "ok")
        child = self._child
        if kind == "model":
            model = str(attributes.get("gen_ai.request.model", ""))
            child(self.model_calls, model, status, _flag(attributes.get("mastra.model.replayed"))).inc()
            child(self.model_seconds, model).observe(seconds)
            for kind_of, key in (("input", "gen_ai.usage.input_tokens"), ("output", "gen_ai.usage.output_tokens")):
                tokens = attributes.get(key)
                if tokens:
                    child(self.tokens, model, kind_of).inc(tokens)
            cost = attributes.get("mastra.usage.cost_usd")
            if cost:
                child(self.cost, model).inc(cost)
        elif kind == "tool":
            tool = str(attributes.get("gen_ai.tool.name", ""))
            child(self.tool_calls, tool, status, _flag(attributes.get("mastra.tool.cached"))).inc()
            child(self.tool_seconds, tool).observe(seconds)
        elif kind == "agent":
            agent = str(attributes.get("gen_ai.agent.name", ""))
            child(self.agent_runs, agent, status).inc()
            child(self.agent_seconds, agent).observe(seconds)
        elif kind == "workflow":
            workflow = str(attributes.get("mastra.workflow.id", ""))
            child(self.workflow_runs, workflow, status).inc()
            child(self.workflow_seconds, workflow).observe(seconds)
        elif kind == "step":
            workflow, step = str(attributes.get("mastra.workflow.id", "")), str(attributes.get("mastra.step.id", ""))
            child(self.steps, workflow, step, status).inc()
            child(self.step_seconds, workflow, step).observe(seconds)
        else:
            return
        if status in ("error", "failed"):
            code = str(attributes.get("mastra.error.code") or attributes.get("error.type", ""))
            child(self.errors, kind, code).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

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


def _flag(value: Any) -> str:
    return "true" if value else "false"
