// Small DOM helpers shared by the console's pages. Text always goes in as text (never as
// HTML), so nothing a user typed or a server returned can run as script.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

// A date in the browser's locale (the API sends ISO 8601 in UTC).
export function localDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function timeEl(iso) {
  return el("time", { datetime: iso }, localDate(iso));
}

// The outcome of an action: an error shows the API's code and message.
export function showError(target, error) {
  const code = error && error.code ? error.code : "ERROR";
  const message = error && error.message ? error.message : String(error);
  clear(target).append(el("p", { class: "error", role: "alert" }, el("code", {}, code), " ", message));
}

export function showOk(target, ...text) {
  clear(target).append(el("p", { class: "ok" }, ...text));
}

// A labelled progress bar; returns a function that moves it: set(done, total).
export function progressBar(target, label) {
  const bar = el("progress", { max: 1, value: 0, "aria-label": label });
  const text = el("span", { class: "progress-text" }, "0%");
  clear(target).append(el("div", { class: "progress" }, bar, text));
  return (done, total) => {
    bar.max = Math.max(total, 1);
    bar.value = Math.min(done, bar.max);
    const pct = total > 0 ? Math.floor((100 * done) / total) : 0;
    text.textContent = `${pct}% (${done} of ${total})`;
  };
}

// Ask before something that cannot be undone; resolves true when confirmed.
export function confirmAction(title, message, confirmLabel = "Delete") {
  return new Promise((resolve) => {
    const yes = el("button", { type: "button", class: "danger" }, confirmLabel);
    const no = el("button", { type: "button", class: "quiet" }, "Cancel");
    const dialog = el("dialog", { class: "confirm", "aria-labelledby": "confirm-title" },
      el("h2", { id: "confirm-title" }, title), el("p", {}, message), el("div", { class: "actions" }, no, yes));
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", () => done(false));
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

export function may(scope) {
  return (document.body.dataset.scopes || "").split(" ").includes(scope);
}
