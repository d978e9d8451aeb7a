// The live workflow graph. Python draws the SVG (the static display's layout) and sends, throttled, the status of
// each node; this module recolours the nodes, shows the run's status, and the detail of the node clicked.

const TIMES = "\u00d7";

function block(label, value) {
  const wrap = el("div", "mastra-graph-value");
  wrap.append(el("div", "mastra-graph-value-label", label));
  wrap.append(el("pre", null, shown(value)));
  return wrap;
}

function render({ model, el: root }) {
  root.classList.add("mastra-widget", "mastra-graph");
  const header = el("div", "mastra-row mastra-graph-header");
  const canvas = el("div", "mastra-graph-canvas");
  const detail = el("div", "mastra-graph-detail");
  root.append(header, canvas, detail);

  function drawHeader() {
    header.replaceChildren();
    header.append(el("span", "mastra-kind", "workflow"), el("strong", null, model.get("workflow_id")));
    const status = model.get("run_status");
    if (status) header.append(statusPill(status));
    const runId = model.get("run_id");
    header.append(el("span", "mastra-muted",
      runId ? `run ${runId}` : "waiting for the next run of this workflow"));
    root.dataset.runStatus = status || "";
  }

  function paint() {
    const statuses = model.get("statuses") || {};
    const selected = model.get("selected");
    for (const g of canvas.querySelectorAll("g.node")) {
      const found = statuses[g.dataset.path];
      g.setAttribute("data-status", found ? found[0] : "");
      g.classList.toggle("selected", g.dataset.path === selected);
      const text = g.querySelector("text");
      if (text) {
        if (text.dataset.label === undefined) text.dataset.label = text.textContent;
        text.textContent = text.dataset.label + (found && found[1] > 1 ? ` ${TIMES}${found[1]}` : "");
      }
    }
    for (const g of canvas.querySelectorAll("g.frame")) {
      const found = statuses[g.dataset.path];
      g.setAttribute("data-status", found ? found[0] : "");
      g.classList.toggle("selected", g.dataset.path === selected);
    }
  }

  function select(path) {
    model.set("selected", model.get("selected") === path ? "" : path);
    model.save_changes();
    paint();
  }

  function drawSvg() {
    canvas.innerHTML = model.get("svg");
    for (const g of canvas.querySelectorAll("g.node, g.frame")) {
      g.addEventListener("click", (event) => {
        event.stopPropagation();
        select(g.dataset.path);
      });
    }
    paint();
  }

  function drawDetail() {
    const info = model.get("detail") || {};
    detail.replaceChildren();
    if (!info.node) {
      detail.append(el("div", "mastra-muted", "Click a step to see its input, output, error and timing."));
      return;
    }
    const title = el("div", "mastra-row");
    title.append(el("strong", null, `${info.kind} ${info.label}`), el("span", "mastra-muted", `at ${info.node}`));
    if (info.count > info.items.length) {
      title.append(el("span", "mastra-muted", `last ${info.items.length} of ${info.count} records`));
    }
    detail.append(title);
    if (info.description) detail.append(el("div", "mastra-muted", info.description));
    if (!info.items.length) detail.append(el("div", "mastra-muted", "Not reached in this run."));
    for (const item of info.items) {
      const box = el("div", "mastra-graph-record");
      box.dataset.path = item.path;
      const line = el("div", "mastra-row");
      // Which record this is, in words (a foreach's "item 3", a loop's "iteration 2"); a node's one record needs
      // none, the title above names the node. The path itself stays in the tooltip.
      if (item.where) line.append(el("strong", "mastra-graph-where", item.where));
      line.append(statusPill(item.status || "pending"));
      line.title = `path ${item.path}`;
      if (item.duration_ms !== null && item.duration_ms !== undefined) line.append(el("span", null, `${item.duration_ms} ms`));
      if (item.attempts > 1) line.append(el("span", null, `${item.attempts} attempts`));
      if (item.started_at) line.append(el("span", "mastra-muted", item.started_at));
      box.append(line);
      if (item.bailed) box.append(el("div", "mastra-graph-bailed", "This step ended the run early with ctx.bail(…)."));
      for (const key of ["input", "output", "suspend_payload", "resume_payload", "error"]) {
        if (item[key] !== null && item[key] !== undefined) box.append(block(key.replace("_", " "), item[key]));
      }
      detail.append(box);
    }
  }

  drawHeader();
  drawSvg();
  drawDetail();
  const handlers = [
    ["change:svg", drawSvg], ["change:statuses", paint], ["change:selected", paint],
    ["change:run_status", drawHeader], ["change:run_id", drawHeader], ["change:detail", drawDetail],
  ];
  return listen(model, handlers);
}

export default { render };
