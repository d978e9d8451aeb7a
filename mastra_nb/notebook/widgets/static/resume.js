// The resume form: one form per suspended step, drawn from the fields Python derived from the step's resume
// schema. Resume sends the raw values; Python validates them with the schema and answers with field errors, or
// resumes the run in the background and reports its progress in `status` and `message`. Once the run has ended,
// `outcome` says how: succeeded (with its output), bailed (a step's ctx.bail: its value), failed or canceled.

function input(field) {
  const id = `mastra-field-${Math.random().toString(36).slice(2)}`;
  let control;
  if (field.kind === "bool") {
    control = el("input");
    control.type = "checkbox";
    control.checked = field.default === true;
  } else if (field.kind === "enum") {
    control = el("select");
    if (!field.required) control.append(el("option", null, ""));
    for (const option of field.options || []) {
      const item = el("option", null, String(option));
      item.value = String(option);
      control.append(item);
    }
    if (field.default !== undefined) control.value = String(field.default);
  } else if (field.kind === "json") {
    control = el("textarea");
    control.rows = 3;
    control.placeholder = "JSON";
    if (field.default !== undefined) control.value = JSON.stringify(field.default);
  } else {
    control = el("input");
    control.type = { number: "number", integer: "number", date: "date", datetime: "datetime-local" }[field.kind] || "text";
    if (field.kind === "number") control.step = "any";
    if (field.kind === "integer") control.step = "1";
    if (field.default !== undefined && field.default !== null) control.value = String(field.default);
  }
  control.id = id;
  control.name = field.name;
  control.dataset.field = field.name;
  control.dataset.kind = field.kind;
  return control;
}

function value(control) {
  if (control.dataset.kind === "bool") return control.checked;
  return control.value;
}

function render({ model, el: root }) {
  root.classList.add("mastra-widget", "mastra-form");
  const header = el("div", "mastra-row");
  const message = el("div", "mastra-form-message");
  const ended = el("div", "mastra-form-outcome");
  const body = el("div");
  root.append(header, message, ended, body);

  function drawHeader() {
    header.replaceChildren();
    const status = model.get("status") || "pending";
    header.append(el("span", "mastra-kind", "resume"), el("strong", null, `run ${model.get("run_id")}`),
      statusPill(status), el("span", "mastra-muted", model.get("workflow_id")));
    root.dataset.status = status;
    const said = model.get("message") || "";
    const found = model.get("outcome") || {};
    message.textContent = said === found.message ? "" : said;  // the outcome says it
    message.hidden = Boolean(found.status) && !message.textContent;
    for (const button of body.querySelectorAll("button")) button.disabled = model.get("busy");
  }

  function drawErrors() {
    const errors = model.get("errors") || {};
    for (const section of body.querySelectorAll("[data-step-path]")) {
      const found = errors[section.dataset.stepPath] || {};
      for (const slot of section.querySelectorAll("[data-error-for]")) {
        const text = found[slot.dataset.errorFor];
        slot.textContent = text || "";
        slot.closest(".mastra-form-field").classList.toggle("invalid", Boolean(text));
      }
    }
  }

  function drawOutcome() {
    const found = model.get("outcome") || {};
    ended.replaceChildren();
    ended.hidden = !found.status;
    ended.dataset.status = found.status || "";
    if (!found.status) return;
    ended.append(el("div", "mastra-form-outcome-message", found.message));
    if ("output" in found) {
      ended.append(el("div", "mastra-form-outcome-label", "output"));
      ended.append(el("pre", "mastra-form-output", shown(found.output)));
    }
  }

  function drawSteps() {
    body.replaceChildren();
    const steps = model.get("steps") || [];
    if (!steps.length && !(model.get("outcome") || {}).status) {
      body.append(el("div", "mastra-muted", "No step is waiting to be resumed."));
    }
    for (const step of steps) {
      const section = el("form", "mastra-form-step");
      section.dataset.stepPath = step.path;
      const title = el("div", "mastra-row");
      title.append(el("strong", null, `step ${step.step_id}`), el("span", "mastra-muted", `at ${step.path}`));
      section.append(title);
      if (step.payload !== null && step.payload !== undefined) {
        section.append(el("div", "mastra-muted", "waiting for:"));
        const pre = el("pre", "mastra-form-payload");
        pre.textContent = JSON.stringify(step.payload, null, 2);
        section.append(pre);
      }
      const controls = [];
      for (const field of step.fields) {
        const row = el("div", "mastra-form-field");
        const label = el("label", null, field.label + (field.required ? " *" : ""));
        const control = input(field);
        label.htmlFor = control.id;
        controls.push(control);
        row.append(label, control);
        if (field.description) row.append(el("span", "mastra-muted", field.description));
        const error = el("div", "mastra-form-error");
        error.dataset.errorFor = field.name;
        row.append(error);
        section.append(row);
      }
      const button = el("button", "mastra-primary", "Resume");
      button.type = "submit";
      button.disabled = model.get("busy");
      section.append(button);
      section.addEventListener("submit", (event) => {
        event.preventDefault();
        const values = {};
        for (const control of controls) values[control.dataset.field] = value(control);
        model.send({ type: "resume", path: step.path, values });
      });
      body.append(section);
    }
    drawErrors();
  }

  function drawEnd() {
    drawOutcome();
    drawSteps();
    drawHeader();
  }

  drawOutcome();
  drawSteps();
  drawHeader();
  const handlers = [
    ["change:steps", drawSteps], ["change:errors", drawErrors], ["change:status", drawHeader],
    ["change:message", drawHeader], ["change:busy", drawHeader], ["change:outcome", drawEnd],
  ];
  return listen(model, handlers);
}

export default { render };
