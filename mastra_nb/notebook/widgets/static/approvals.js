// The approvals form: each tool call a paused agent run waits on, with its arguments and Approve / Decline.
// A click sends the decision; Python continues the run in the background and reports results and the answer.

function render({ model, el: root }) {
  root.classList.add("mastra-widget", "mastra-approvals");
  const header = el("div", "mastra-row");
  const message = el("div", "mastra-muted");
  const body = el("div");
  root.append(header, message, body);

  function draw() {
    const status = model.get("status");
    header.replaceChildren(el("span", "mastra-kind", "approvals"), el("strong", null, `run ${model.get("run_id")}`),
      statusPill(status), el("span", "mastra-muted", `agent ${model.get("agent_name")}`));
    root.dataset.status = status;
    message.textContent = model.get("message") || "";
    body.replaceChildren();
    for (const call of model.get("calls") || []) {
      const box = el("div", "mastra-approval");
      box.dataset.callId = call.call_id;
      box.append(el("strong", null, call.tool));
      const args = el("pre");
      args.textContent = JSON.stringify(call.arguments, null, 2);
      box.append(args);
      if (call.decision === null) {
        for (const [label, type] of [["Approve", "approve"], ["Decline", "decline"]]) {
          const button = el("button", type === "approve" ? "mastra-primary" : null, label);
          button.disabled = model.get("busy");
          button.addEventListener("click", () => model.send({ type, call_id: call.call_id }));
          box.append(button);
        }
      } else {
        box.append(el("span", "mastra-muted", call.decision));
      }
      if (call.error) box.append(el("div", "mastra-approval-error", `${call.error.code}: ${call.error.message}`));
      else if (call.result !== null) box.append(el("pre", null, JSON.stringify(call.result, null, 2)));
      body.append(box);
    }
    if (model.get("answer")) body.append(el("div", "mastra-approval-answer", model.get("answer")));
  }

  draw();
  const names = ["change:calls", "change:status", "change:message", "change:busy", "change:answer"];
  return listen(model, names.map((name) => [name, draw]));
}

export default { render };
