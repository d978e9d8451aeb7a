// The trace waterfall: a row per span (indented as the tree) with a bar placed on the trace's timeline; a click
// on a row shows the span's input, output and attributes; Refresh reads the trace again.

function pre(label, value) {
  const box = el("div");
  box.append(el("div", "mastra-muted", label));
  box.append(el("pre", null, shown(value)));
  return box;
}

function render({ model, el: root }) {
  root.classList.add("mastra-widget", "mastra-trace");
  const header = el("div", "mastra-row");
  const rows = el("div", "mastra-trace-rows");
  root.append(header, rows);
  const open = new Set();

  function draw() {
    header.replaceChildren();
    const refresh = el("button", null, "Refresh");
    refresh.addEventListener("click", () => model.send({ type: "refresh" }));
    header.append(el("span", "mastra-kind", "trace"), el("strong", null, model.get("trace_id")),
      el("span", "mastra-muted", `${model.get("duration_ms").toFixed(1)} ms`), refresh,
      el("span", "mastra-muted", model.get("message") || ""));
    rows.replaceChildren();
    const total = Math.max(model.get("duration_ms"), 0.001);
    for (const span of model.get("spans") || []) {
      const row = el("div", "mastra-trace-row");
      row.dataset.spanId = span.span_id;
      row.dataset.status = span.status;
      const name = el("div", "mastra-trace-name", span.name);
      name.style.paddingLeft = `${span.depth * 14}px`;
      const lane = el("div", "mastra-trace-lane");
      const bar = el("div", "mastra-trace-bar");
      bar.dataset.kind = span.kind;
      bar.dataset.status = span.error ? "error" : "ok";
      bar.style.left = `${(100 * span.start_ms) / total}%`;
      bar.style.width = `${Math.max((100 * span.duration_ms) / total, 0.5)}%`;
      lane.append(bar);
      const facts = [`${span.duration_ms.toFixed(1)} ms`];
      if (span.tokens) facts.push(`${span.tokens} tok`);
      if (span.cost_usd) facts.push(`$${Number(span.cost_usd).toFixed(5)}`);
      const info = el("div", "mastra-trace-facts", facts.join(" · "));
      row.append(name, lane, info);
      row.addEventListener("click", () => {
        if (open.has(span.span_id)) open.delete(span.span_id); else open.add(span.span_id);
        draw();
      });
      rows.append(row);
      if (span.error) rows.append(el("div", "mastra-trace-error", `${span.error.code}: ${span.error.message}`));
      if (open.has(span.span_id)) {
        const more = el("div", "mastra-trace-detail");
        if (span.input !== null && span.input !== undefined) more.append(pre("input", span.input));
        if (span.output !== null && span.output !== undefined) more.append(pre("output", span.output));
        more.append(pre("attributes", span.attributes));
        rows.append(more);
      }
    }
  }

  draw();
  const handlers = [["change:spans", draw], ["change:message", draw], ["change:duration_ms", draw]];
  return listen(model, handlers);
}

export default { render };
