// The helpers every widget's script shares. Not a module of its own: `_base.esm` puts this text before each widget's
// script (anywidget loads an ES module from a string, which cannot import a file beside it), so these names are in
// scope there. A widget script must not declare them again: in a module that is a syntax error.

// An element: `tag`, with `className` and `text` when given.
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// A status pill (common.css colours it by `data-status`), reading `text`, or the status itself.
function statusPill(status, text = status) {
  const pill = el("span", "mastra-status", text);
  pill.dataset.status = status;
  return pill;
}

// A value as the views show it: a string as it reads, anything else as indented JSON.
function shown(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

// Subscribe each `[event, handler]` pair to the model; returns what unsubscribes them all (render's clean-up).
function listen(model, handlers) {
  for (const [name, fn] of handlers) model.on(name, fn);
  return () => { for (const [name, fn] of handlers) model.off(name, fn); };
}
