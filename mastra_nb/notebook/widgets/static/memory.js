// The memory view: a resource's threads (click one for its messages), the working memory (edit, Save: Python
// validates it and shows a refusal inline) and a semantic search box.

function messageLine(message, extra) {
  const line = el("div", `mastra-memory-message mastra-memory-${message.role}`);
  line.dataset.role = message.role;
  const head = el("div", "mastra-row");
  head.append(el("strong", null, message.role), el("span", "mastra-muted", message.created_at));
  if (extra) head.append(extra);
  line.append(head);
  const tools = message.tools || [];
  if (tools.length) line.append(el("div", "mastra-muted", `tools: ${tools.join(", ")}`));
  if (message.text) line.append(el("div", "mastra-memory-text", message.text));
  return line;
}

function render({ model, el: root }) {
  root.classList.add("mastra-widget", "mastra-memory");

  // The header: which resource, and a way to show another.
  const header = el("form", "mastra-row");
  const resource = el("input");
  resource.name = "resource";
  const show = el("button", null, "Show");
  show.type = "submit";
  const refresh = el("button", null, "Refresh");
  refresh.type = "button";
  const status = el("span", "mastra-muted mastra-memory-status");
  header.append(el("span", "mastra-kind", "memory"), el("span", "mastra-muted", "resource"), resource, show, refresh,
    status);
  header.addEventListener("submit", (event) => {
    event.preventDefault();
    model.send({ type: "resource", resource_id: resource.value });
  });
  refresh.addEventListener("click", () => model.send({ type: "refresh" }));

  const columns = el("div", "mastra-memory-columns");
  const threads = el("div", "mastra-memory-threads");
  const conversation = el("div", "mastra-memory-conversation");
  columns.append(threads, conversation);

  // Working memory: a text area that Python's refresh never overwrites while it holds unsaved edits.
  const working = el("div", "mastra-memory-working");
  const workingHead = el("div", "mastra-row");
  const editor = el("textarea");
  editor.rows = 7;
  editor.name = "working";
  const save = el("button", "mastra-primary", "Save");
  const workingError = el("div", "mastra-memory-error");
  const workingSaved = el("span", "mastra-muted mastra-memory-saved");
  const actions = el("div", "mastra-row");
  actions.append(save, workingSaved);
  working.append(workingHead, editor, actions, workingError);
  let dirty = false;
  editor.addEventListener("input", () => { dirty = true; workingSaved.textContent = ""; });
  save.addEventListener("click", () => { dirty = false; model.send({ type: "save", value: editor.value }); });

  // Search.
  const search = el("form", "mastra-memory-search");
  const query = el("input");
  query.name = "query";
  query.placeholder = "Search this resource's messages by meaning";
  const go = el("button", null, "Search");
  go.type = "submit";
  const results = el("div", "mastra-memory-results");
  search.append(query, go);
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    model.send({ type: "search", query: query.value });
  });
  // JupyterLab's notebook takes Enter for itself before a form sees it: submit on Enter explicitly.
  for (const [input, form] of [[query, search], [resource, header]]) {
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); event.stopPropagation(); form.requestSubmit(); }
    });
  }

  root.append(header, columns, working, search, results);

  function drawHeader() {
    if (document.activeElement !== resource) resource.value = model.get("resource_id");
    status.textContent = model.get("message") || "";
  }

  function drawThreads() {
    threads.replaceChildren(el("div", "mastra-muted", "threads"));
    const list = model.get("threads") || [];
    if (!list.length) threads.append(el("div", "mastra-muted", "No threads yet."));
    for (const thread of list) {
      const item = el("button", "mastra-memory-thread");
      item.type = "button";
      item.dataset.threadId = thread.id;
      item.classList.toggle("selected", thread.id === model.get("thread_id"));
      item.append(el("div", null, thread.title || thread.id), el("div", "mastra-muted", thread.updated_at));
      item.addEventListener("click", () => model.send({ type: "thread", thread_id: thread.id }));
      threads.append(item);
    }
  }

  function drawMessages() {
    conversation.replaceChildren();
    const id = model.get("thread_id");
    if (!id) { conversation.append(el("div", "mastra-muted", "Pick a thread to read its messages.")); return; }
    const head = el("div", "mastra-row");
    head.append(el("span", "mastra-muted", "thread"), el("code", null, id));
    conversation.append(head);
    const messages = model.get("messages") || [];
    if (!messages.length) conversation.append(el("div", "mastra-muted", "No messages."));
    for (const message of messages) conversation.append(messageLine(message));
  }

  function drawWorking() {
    const state = model.get("working") || {};
    working.style.display = state.enabled ? "" : "none";
    const kind = state.schema ? "JSON matching its schema" : "markdown";
    workingHead.replaceChildren(el("strong", null, "Working memory"),
      el("span", "mastra-muted", `${state.scope || ""} scope, ${kind}`));
    const value = state.value === null || state.value === undefined ? (state.schema ? "{}" : "") : state.value;
    if (!dirty && document.activeElement !== editor) editor.value = value;
    editor.disabled = state.scope === "thread" && !model.get("thread_id");
    save.disabled = editor.disabled;
    workingError.textContent = model.get("working_error") || "";
    working.classList.toggle("invalid", Boolean(model.get("working_error")));
    workingSaved.textContent = model.get("working_saved") || "";
  }

  function drawResults() {
    results.replaceChildren();
    if (!model.get("query")) return;
    const found = model.get("results") || [];
    if (!found.length) { results.append(el("div", "mastra-muted", "Nothing related found.")); return; }
    for (const hit of found) {
      const scored = hit.score !== null && hit.score !== undefined;
      const score = scored ? el("span", "mastra-muted", `score ${hit.score.toFixed(3)}`) : null;
      const line = messageLine(hit, score);
      line.classList.toggle("matched", Boolean(hit.matched));
      const where = el("button", "mastra-memory-link", hit.thread_title || hit.thread_id);
      where.type = "button";
      where.addEventListener("click", () => model.send({ type: "thread", thread_id: hit.thread_id }));
      line.firstChild.append(where);
      results.append(line);
    }
  }

  const handlers = [
    ["change:resource_id", drawHeader], ["change:message", drawHeader], ["change:threads", drawThreads],
    ["change:thread_id", drawThreads], ["change:thread_id", drawMessages], ["change:messages", drawMessages],
    ["change:thread_id", drawWorking], ["change:working", drawWorking], ["change:working_error", drawWorking],
    ["change:working_saved", drawWorking], ["change:results", drawResults], ["change:query", drawResults],
  ];
  drawHeader(); drawThreads(); drawMessages(); drawWorking(); drawResults();
  if (document.activeElement !== query) query.value = model.get("query") || "";
  return listen(model, handlers);
}

export default { render };
