// The chat: the conversation (Python streams it in, throttled), tool-call cards, a box to write in, Send and Stop.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function toolCard(tool) {
  const box = el("div", "mastra-chat-tool");
  box.dataset.tool = tool.name;
  const line = el("div", "mastra-row");
  const state = tool.error ? "failed" : tool.result === null || tool.result === undefined ? "running" : "success";
  const pill = el("span", "mastra-status", state === "running" ? "calling" : state === "failed" ? "error" : "done");
  pill.dataset.status = state;
  line.append(el("span", "mastra-kind", "tool"), el("code", null, tool.name), pill);
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
  header.append(el("span", "mastra-kind", "chat"), el("strong", null, model.get("agent_name")));
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
        const pill = el("span", "mastra-status", message.status);
        pill.dataset.status = message.status === "failed" ? "failed" : "canceled";
        who.append(pill);
      }
      item.append(who);
      for (const tool of message.tools || []) item.append(toolCard(tool));
      const text = el("div", "mastra-chat-text", message.text);
      if (message.status === "streaming") text.classList.add("streaming");
      item.append(text);
      for (const pending of message.pending || []) {
        item.append(el("div", "mastra-muted", `waiting for approval: ${pending.tool} (call ${pending.call_id})`));
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
    root.dataset.busy = busy ? "true" : "false";
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
  const handlers = [["change:messages", drawMessages], ["change:busy", drawBusy]];
  for (const [name, fn] of handlers) model.on(name, fn);
  return () => { for (const [name, fn] of handlers) model.off(name, fn); };
}

export default { render };
