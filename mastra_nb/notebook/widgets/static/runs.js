// The runs table: filters (status, workflow), a row per stored run, and Open, which shows the run's graph and
// resume form below (Python puts them there); for the opened run, time travel: fork it from one of its steps.
// A fork says which run it came from; a run a step ended with ctx.bail(...) reads "bailed".

const STATUSES = ["", "running", "suspended", "success", "failed", "canceled", "pending"];

// A stored ISO time, local and to the second, so that a row stays on one line ("2025-06-01 14:03:09"); only the
// time of day when it falls on the day of `since` (a run updated on the day it was created).
function when(iso, since) {
  const time = iso ? new Date(iso) : null;
  if (!time || Number.isNaN(time.getTime())) return iso || "";
  const pad = (n) => String(n).padStart(2, "0");
  const day = (t) => `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
  const clock = `${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}`;
  const before = since ? new Date(since) : null;
  return before && !Number.isNaN(before.getTime()) && day(before) === day(time) ? clock : `${day(time)} ${clock}`;
}

function stamp(iso, since) {
  const node = el("span", "mastra-runs-time", when(iso, since));
  if (iso) node.title = iso;
  return node;
}

// The run's id, and for a time-travel fork the run and step it was forked from.
function runCell(row) {
  const cell = el("div");
  cell.append(el("code", null, row.run_id));
  if (row.fork) {
    const note = el("div", "mastra-runs-fork", `fork of ${row.fork.run_id.slice(0, 8)} at ${row.fork.step_id}`);
    note.title = `time-travel fork of run ${row.fork.run_id} from step ${row.fork.step_id} (path ${row.fork.path})`;
    cell.append(note);
  }
  return cell;
}

function select(options, current, onChange) {
  const box = el("select");
  for (const option of options) {
    const item = el("option", null, option || "all");
    item.value = option;
    box.append(item);
  }
  box.value = current;
  box.addEventListener("change", () => onChange(box.value));
  return box;
}

function render({ model, el: root }) {
  root.classList.add("mastra-widget", "mastra-runs");

  function setFilter(name, value) {
    model.set(name, value);
    model.save_changes();
  }

  function draw() {
    root.replaceChildren();
    const header = el("div", "mastra-row");
    header.append(el("span", "mastra-kind", "runs"), el("span", "mastra-muted", "status"),
      select(STATUSES, model.get("status"), (v) => setFilter("status", v)), el("span", "mastra-muted", "workflow"),
      select(["", ...model.get("workflows")], model.get("workflow"), (v) => setFilter("workflow", v)),
      el("span", "mastra-muted", model.get("message") || ""));
    const table = el("table", "mastra-runs-table");
    const head = el("tr");
    for (const name of ["run", "workflow", "status", "created", "updated", ""]) head.append(el("th", null, name));
    table.append(head);
    for (const row of model.get("rows") || []) {
      const line = el("tr");
      line.dataset.runId = row.run_id;
      line.classList.toggle("opened", row.run_id === model.get("opened"));
      const status = row.status === "success" && row.bailed !== undefined && row.bailed !== null ? "bailed" : row.status;
      const open = el("button", null, row.status === "suspended" ? "Resume…" : "Open");
      open.addEventListener("click", () => model.send({ type: "open", run_id: row.run_id }));
      const cells = [runCell(row), el("code", null, row.workflow_id), statusPill(status), stamp(row.created_at),
        stamp(row.updated_at, row.created_at), open];
      for (const cell of cells) {
        const td = el("td");
        td.append(cell);
        line.append(td);
      }
      table.append(line);
    }
    // The table scrolls inside the card rather than past its edge, should a narrow page still be too narrow.
    const frame = el("div", "mastra-runs-frame");
    frame.append(table);
    if (!(model.get("rows") || []).length) root.append(header, el("div", "mastra-muted", "No runs."));
    else root.append(header, frame);
    const steps = model.get("steps") || [];
    if (model.get("opened") && steps.length) root.append(timeTravel(steps));
  }

  // Fork the opened run from a step: the step's stored input is the default, editable as JSON.
  function timeTravel(steps) {
    const bar = el("div", "mastra-row mastra-runs-travel");
    const input = el("input");
    input.name = "travel-input";
    const pick = select(steps.map((s) => s.path), steps[0].path, (path) => fill(path));
    pick.name = "travel-step";
    for (const option of pick.options) {
      const step = steps.find((s) => s.path === option.value);
      option.textContent = `${step.step_id} (${step.path}, ${step.status})`;
    }
    function fill(path) {
      const step = steps.find((s) => s.path === path);
      input.value = step && step.input !== undefined ? JSON.stringify(step.input) : "";
    }
    fill(pick.value);
    const fork = el("button", "mastra-primary", "Time travel");
    fork.disabled = model.get("busy");
    fork.addEventListener("click", () => model.send({ type: "time_travel", path: pick.value, input: input.value }));
    bar.append(el("span", "mastra-muted", `fork run ${model.get("opened")} from step`), pick,
      el("span", "mastra-muted", "with input"), input, fork);
    return bar;
  }

  draw();
  const names = ["change:rows", "change:status", "change:workflow", "change:opened", "change:message", "change:steps",
    "change:busy"];
  return listen(model, names.map((name) => [name, draw]));
}

export default { render };
