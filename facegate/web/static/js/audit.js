// Audit: GET /v1/audit with its filters (actor, route, outcome, identity, time range),
// newest first, paged by the API's cursor; times in the browser's locale.
import { api } from "./api.js";
import { labelCells } from "./table.js";
import { clear, el, showError, timeEl } from "./dom.js";

const form = document.getElementById("filters");
const body = document.querySelector("#audit tbody");
const empty = document.getElementById("audit-empty");
const result = document.getElementById("audit-result");
const summary = document.getElementById("audit-summary");
const info = document.getElementById("page-info");
const prev = document.getElementById("prev");
const next = document.getElementById("next");
let cursors = [null]; // the cursor of each page seen so far; the last is the current page's
let nextCursor = null;

function query() {
  const params = new URLSearchParams({ limit: form.limit.value });
  for (const name of ["actor", "route", "outcome", "identity_id"]) {
    const value = form[name].value.trim();
    if (value) params.set(name, value);
  }
  for (const name of ["since", "until"]) {
    // datetime-local is the browser's local time: send it as an instant (UTC).
    if (form[name].value) params.set(name, new Date(form[name].value).toISOString());
  }
  return params;
}

function outcome(row) {
  const ok = row.status < 400;
  return el("span", { class: ok ? "pill on" : "pill off" }, String(row.status),
    row.error_code ? ` ${row.error_code}` : "");
}

const short = (v) => (typeof v === "string" && v.length > 16 ? `${v.slice(0, 8)}…` : v);

function details(row) {
  const entries = Object.entries(row.details || {});
  if (!entries.length) return "";
  return el("span", { class: "small" }, entries.flatMap(([k, v], i) => {
    const text = Array.isArray(v) ? v.map(short).join(",") : short(v);
    return [i ? " · " : "", el("span", { title: `${k}=${v}` }, `${k}=${text}`)];
  }));
}

function line(row) {
  const actor = row.actor || {};
  return el("tr", {},
    el("td", { class: "nowrap" }, timeEl(row.time)),
    el("td", {}, el("strong", {}, actor.name || actor.id || actor.kind),
      actor.name && actor.name !== actor.kind ? el("span", { class: "muted small" }, ` ${actor.kind}`) : null),
    el("td", { title: `request ${row.request_id}` }, el("code", {}, `${row.method} ${row.route}`)),
    el("td", {}, outcome(row)),
    el("td", { class: "small" }, row.client || ""),
    el("td", { class: "small" }, row.identity_ids.map((id) => el("code", { title: id }, id.slice(0, 8))).flatMap((c, i) => (i ? [" ", c] : [c]))),
    el("td", {}, details(row)));
}

let latest = 0; // only the newest load's answer is shown (a Clear then a Filter race otherwise)

async function load() {
  const params = query();
  const cursor = cursors[cursors.length - 1];
  if (cursor) params.set("cursor", cursor);
  const ticket = ++latest;
  try {
    const page = await api(`/v1/audit?${params}`);
    if (ticket !== latest) return;
    clear(result);
    clear(body).append(...page.items.map(line));
    labelCells(document.getElementById("audit"));
    nextCursor = page.next_cursor;
    empty.hidden = page.items.length > 0;
    info.textContent = page.items.length ? `Page ${cursors.length}` : "";
    summary.textContent = page.items.length
      ? `${page.items.length} request${page.items.length === 1 ? "" : "s"}, newest first${nextCursor ? "; older ones on the next page" : ""}.` : "";
    prev.disabled = cursors.length === 1;
    next.disabled = !nextCursor;
  } catch (error) {
    if (ticket === latest) showError(result, error);
  }
}

form.addEventListener("submit", (event) => { event.preventDefault(); cursors = [null]; load(); });
form.addEventListener("reset", () => { setTimeout(() => { cursors = [null]; load(); }, 0); });
prev.addEventListener("click", () => { if (cursors.length > 1) { cursors.pop(); load(); } });
next.addEventListener("click", () => { if (nextCursor) { cursors.push(nextCursor); load(); } });

load();
