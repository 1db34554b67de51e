// Admin → server status: GET /v1/status (version, models and their licences, ONNX
// providers, storage backend, replicas' sync, queue depth), drawn as nested facts so a
// field the server adds later still shows.
import { api } from "./api.js";
import { labelCells } from "./table.js";
import { clear, el, showError, timeEl } from "./dom.js";

const target = document.getElementById("status");
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

const LABELS = { onnx: "ONNX Runtime", workers: "Workers and queue", index: "Index sync", gallery: "Gallery" };

function label(key, top) {
  if (top && LABELS[key]) return LABELS[key];
  const text = String(key).replace(/_s$/, "").replaceAll("_", " ");
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

function duration(seconds) {
  const s = Math.round(seconds);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

// The models (descriptor, detector, landmarks) with their licences, as a table.
function models(items) {
  const heads = ["Model", "Role", "Licence", "Commercial use", "In use"];
  const table = el("table", { class: "stack", "aria-label": "Models" },
    el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, items.map((m) => el("tr", {},
      el("td", {}, el("strong", {}, m.name), m.file ? el("div", { class: "muted small" }, m.file) : null,
        m.note ? el("div", { class: "muted small" }, m.note) : null),
      el("td", {}, m.role), el("td", {}, m.licence), el("td", {}, value(m.commercial_use)),
      el("td", {}, value(m.in_use))))));
  labelCells(table);
  return el("div", { class: "table-wrap" }, table);
}

function entry(key, item) {
  if (key === "models" && Array.isArray(item)) return models(item);
  if (key.endsWith("_s") && typeof item === "number") return duration(item);
  if (key.endsWith("_at") && typeof item === "number") return timeEl(new Date(item * 1000).toISOString());
  return value(item);
}

function facts(object, top = false) {
  return el("dl", { class: "facts" }, Object.entries(object).flatMap(([key, item]) =>
    [el("dt", {}, label(key, top)), el("dd", {}, entry(key, item))]));
}

async function load() {
  try {
    const status = await api("/v1/status");
    clear(target).append(facts(status, true));
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
