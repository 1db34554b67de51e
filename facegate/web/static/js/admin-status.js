// Admin → server status: GET /v1/status (version, models and their licences, ONNX
// providers, storage backend, replicas' sync, queue depth), drawn as nested facts so a
// field the server adds later still shows.
import { api } from "./api.js";
import { clear, el, showError, timeEl } from "./dom.js";

const target = document.getElementById("status");
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

function label(key) {
  const text = String(key).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function value(data) {
  if (data === null || data === undefined) return el("span", { class: "muted" }, "—");
  if (typeof data === "boolean") return el("span", { class: data ? "pill on" : "pill off" }, data ? "yes" : "no");
  if (typeof data === "string" && ISO.test(data)) return timeEl(data);
  if (Array.isArray(data)) {
    if (data.length === 0) return el("span", { class: "muted" }, "none");
    if (data.every((item) => typeof item !== "object" || item === null)) return data.join(", ");
    return el("ul", { class: "status-list" }, data.map((item) => el("li", {}, value(item))));
  }
  if (typeof data === "object") return facts(data);
  return String(data);
}

function facts(object) {
  return el("dl", { class: "facts" }, Object.entries(object).flatMap(([key, item]) =>
    [el("dt", {}, label(key)), el("dd", {}, value(item))]));
}

async function load() {
  try {
    const status = await api("/v1/status");
    clear(target).append(facts(status));
  } catch (error) {
    clear(target);
    showError(target, error);
    if (error.status === 404) {
      target.append(el("p", { class: "muted small" }, "This server does not report its status (GET /v1/status)."));
    }
  }
}

const refresh = el("button", { type: "button", class: "quiet" }, "Refresh");
refresh.addEventListener("click", load);
target.after(refresh);
load();
