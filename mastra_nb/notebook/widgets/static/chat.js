// The chat: a thread picker (when the agent has memory), the conversation (Python streams it in, throttled),
// tool-call cards with Approve / Decline for calls that wait for a decision, a box to write in, Send and Stop.

function toolCard(tool, pending, model) {
  const box = el("div", "mastra-chat-tool");
  box.dataset.tool = tool.name;
  const line = el("div", "mastra-row");
  let state = tool.error ? "failed" : tool.result === null || tool.result === undefined ? "running" : "success";
  if (tool.waiting && state === "running") state = "waiting";
  const labels = { running: tool.decision ? tool.decision : "calling", failed: "error", success: "done",
    waiting: "waiting for approval" };
  line.append(el("span", "mastra-kind", "tool"), el("code", null, tool.name), statusPill(state, labels[state]));
  if (pending) {  // this call waits for a decision: Approve runs it, Decline tells the model it was declined
    box.dataset.pending = "true";
    for (const [label, type] of [["Approve", "approve"], ["Decline", "decline"]]) {
      const button = el("button", type === "approve" ? "mastra-primary" : null, label);
      button.disabled = model.get("busy");
      button.addEventListener("click", () => model.send({ type, run_id: pending.run_id, call_id: pending.call_id }));
      line.append(button);
    }
  }
  box.append(line);
  const args = el("pre");
  args.textContent = JSON.stringify(tool.arguments, null, 2);
  box.append(args);
  if (tool.error) box.append(el("div", "mastra-chat-error", tool.error));
  else if (tool.result !== null && tool.result !== undefined) {
    const result = el("pre");
    result.textContent = "→ " + JSON.stringify(tool.result, null, 2);
    box.append(result);
  }
  return box;
}

function render({ model, el: root }) {
  root.classList.add("mastra-widget", "mastra-chat");
  const header = el("div", "mastra-row");
  const picker = el("select", "mastra-chat-threads");
  picker.addEventListener("change", () => model.send({ type: "thread", thread_id: picker.value }));
  const pickerLabel = el("span", "mastra-muted");
  header.append(el("span", "mastra-kind", "chat"), el("strong", null, model.get("agent_name")), pickerLabel, picker);
  const transcript = el("div", "mastra-chat-transcript");
  const form = el("form", "mastra-chat-input");
  const box = el("textarea");
  box.rows = 2;
  box.placeholder = `Message ${model.get("agent_name")} (Enter to send, Shift+Enter for a new line)`;
  const send = el("button", "mastra-primary", "Send");
  send.type = "submit";
  const stop = el("button", "mastra-chat-stop", "Stop");
  stop.type = "button";
  form.append(box, send, stop);
  root.append(header, transcript, form);

  function drawMessages() {
    transcript.replaceChildren();
    for (const message of model.get("messages") || []) {
      const item = el("div", `mastra-chat-message mastra-chat-${message.role}`);
      item.dataset.role = message.role;
      item.dataset.status = message.status;
      const who = el("div", "mastra-row");
      who.append(el("strong", null, message.role === "user" ? "you" : model.get("agent_name")));
      if (message.scripted) who.append(el("span", "mastra-muted", "scripted reply"));
      if (message.status === "stopped" || message.status === "failed") {
        who.append(statusPill(message.status === "failed" ? "failed" : "canceled", message.status));
      }
      item.append(who);
      const pending = new Map((message.pending || []).map((p) => [p.call_id, p]));
      for (const tool of message.tools || []) {
        item.append(toolCard(tool, pending.get(tool.id), model));
        pending.delete(tool.id);
      }
      const text = el("div", "mastra-chat-text", message.text);
      if (message.status === "streaming") text.classList.add("streaming");
      item.append(text);
      for (const waiting of pending.values()) {  // a waiting call without a card (not streamed): one of its own
        item.append(toolCard({ id: waiting.call_id, name: waiting.tool, arguments: waiting.arguments,
          result: null, error: null, waiting: true }, waiting, model));
      }
      if (message.error) item.append(el("div", "mastra-chat-error", message.error));
      transcript.append(item);
    }
    transcript.scrollTop = transcript.scrollHeight;
  }

  function drawBusy() {
    const busy = model.get("busy");
    send.disabled = busy;
    stop.disabled = !busy;
    picker.disabled = busy;
    root.dataset.busy = busy ? "true" : "false";
    for (const button of transcript.querySelectorAll("[data-pending] button")) button.disabled = busy;
  }

  function drawThreads() {
    const show = model.get("has_memory");
    picker.style.display = pickerLabel.style.display = show ? "" : "none";
    if (!show) return;
    pickerLabel.textContent = `thread of ${model.get("resource_id")}`;
    const current = model.get("thread_id");
    const options = [["", "new thread"], ...(model.get("threads") || []).map((t) => [t.id, t.title || t.id])];
    if (current && !options.some(([id]) => id === current)) options.push([current, `${current} (new)`]);
    picker.replaceChildren();
    for (const [id, label] of options) {
      const option = el("option", null, label);
      option.value = id;
      picker.append(option);
    }
    picker.value = current;
    root.dataset.threadId = current;
  }

  function submit() {
    const text = box.value.trim();
    if (!text || model.get("busy")) return;
    model.send({ type: "send", text });
    box.value = "";
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); submit(); }
  });
  stop.addEventListener("click", () => model.send({ type: "stop" }));

  drawMessages();
  drawBusy();
  drawThreads();
  const handlers = [["change:messages", drawMessages], ["change:messages", drawBusy], ["change:busy", drawBusy],
    ["change:threads", drawThreads], ["change:thread_id", drawThreads], ["change:has_memory", drawThreads]];
  return listen(model, handlers);
}

export default { render };
